variable "env" {
  default = "dev"
}
