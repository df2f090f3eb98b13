variable "x" {}

prompt "p" {
  template   = "x"
  depends_on = [var.x]
}
