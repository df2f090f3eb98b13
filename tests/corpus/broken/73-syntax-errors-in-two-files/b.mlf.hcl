prompt "b" {
  template = "x" @
}
