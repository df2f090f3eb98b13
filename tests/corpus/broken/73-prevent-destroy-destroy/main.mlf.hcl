prompt "p" {
  template = "Hello"

  lifecycle {
    prevent_destroy = true
  }
}
