model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  model    = model.m
  replicas = "two"
}
