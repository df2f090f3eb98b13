prompt "p" {
  template = "Hello"
}
