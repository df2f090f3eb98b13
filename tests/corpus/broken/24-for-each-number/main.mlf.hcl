prompt "p" {
  for_each = 3
  template = "x"
}
