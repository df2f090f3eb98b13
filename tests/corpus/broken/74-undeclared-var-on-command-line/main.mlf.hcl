variable "env" {
  default = "staging"
}
