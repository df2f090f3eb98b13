prompt "p" {
  count    = 2
  for_each = toset(["a", "b"])
  template = "x"
}
