prompt "a" {
  template = "x"
