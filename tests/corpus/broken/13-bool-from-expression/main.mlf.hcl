locals {
  n = 3
}

prompt "p" {
  template = "x"
  model_params = [local.n]
}
