model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  provider = provider.sagemaker
  model    = model.m
}
