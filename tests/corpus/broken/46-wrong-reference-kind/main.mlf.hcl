prompt "p" {
  template = "x"
}

endpoint "e" {
  model = prompt.p
}
