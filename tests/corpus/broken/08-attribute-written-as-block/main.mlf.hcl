prompt "p" {
  template = "x"
  model_params {
    temperature = 0.2
  }
}
