model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  provider = "local"
  model    = model.m
}
