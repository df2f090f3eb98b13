mlform {
  backend "local" {
    path = "state\u0000.json"
  }
}

variable "env" {
  default = "dev"
}
