prompt "p" {
  template     = "Hello"
  model_params = 3
}
