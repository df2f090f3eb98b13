prompt "p" {
  for_each = ["short", "long", "short"]
  template = "x"
}
