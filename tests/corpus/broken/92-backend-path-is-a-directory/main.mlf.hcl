mlform {
  backend "local" {
    path = "./"
  }
}

variable "env" {
  default = "dev"
}
