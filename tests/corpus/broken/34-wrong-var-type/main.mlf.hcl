variable "replicas" {
  type = number
}

prompt "p" {
  template = "n: ${var.replicas}"
}
