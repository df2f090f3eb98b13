variable "env" {}

variable "env" {
  default = "prod"
}
