prompt "p" {
  template = ["Hello", "world"]
}
