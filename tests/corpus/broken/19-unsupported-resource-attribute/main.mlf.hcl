prompt "a" {
  template = "x"
}

prompt "b" {
  template = prompt.a.templat
}
