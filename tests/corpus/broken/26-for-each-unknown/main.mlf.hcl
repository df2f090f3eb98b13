provider "testing" {}

model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
}

prompt "p" {
  for_each = toset([endpoint.e.url])
  template = "x"
}
