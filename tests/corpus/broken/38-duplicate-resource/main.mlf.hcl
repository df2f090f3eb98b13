prompt "p" {
  template = "a"
}

prompt "p" {
  template = "b"
}
