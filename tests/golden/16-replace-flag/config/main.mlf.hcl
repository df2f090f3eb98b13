prompt "greeting" {
  template  = "Hello {{ name }}!"
  variables = ["name"]
}

prompt "farewell" {
  template  = "Goodbye {{ name }}."
  variables = ["name"]
}
