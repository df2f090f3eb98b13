prompt "greet" {
  template  = "Hello {{ name }}, your order {{ ordr }} shipped."
  variables = ["name", "order"]
}
