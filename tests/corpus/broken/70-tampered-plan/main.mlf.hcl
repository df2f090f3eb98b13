variable "env" {
  default = "staging"
}

prompt "p" {
  template = "env: ${var.env}"
}
