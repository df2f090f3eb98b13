prompt "greeting" {
  template  = "Hello {{ name }}!"
  variables = ["name"]
}

prompt "farewell" {
  template  = "See you {{ name }}."
  variables = ["name"]
}
