variable "region" {
  type = string
}

prompt "p" {
  template = "region: ${var.region}"
}
