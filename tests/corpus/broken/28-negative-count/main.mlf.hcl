prompt "p" {
  count    = -1
  template = "x"
}
