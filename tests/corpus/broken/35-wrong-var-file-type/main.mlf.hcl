variable "enabled" {
  type = bool
}

prompt "p" {
  template = "on: ${var.enabled}"
}
