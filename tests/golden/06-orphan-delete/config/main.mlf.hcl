prompt "greeting" {
  template  = "Hello {{ name }}!"
  variables = ["name"]
}
