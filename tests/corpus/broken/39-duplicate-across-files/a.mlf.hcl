prompt "p" {
  template = "a"
}
