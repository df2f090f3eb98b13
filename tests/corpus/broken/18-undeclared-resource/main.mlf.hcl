model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  model = model.sentiment
}
