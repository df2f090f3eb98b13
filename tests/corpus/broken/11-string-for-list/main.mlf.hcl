prompt "p" {
  template  = "Hello {{ text }}"
  variables = "text"
}
