prompt "a" {
  template = prompt.b.template
}

prompt "b" {
  template   = "x"
  depends_on = [prompt.a]
}
