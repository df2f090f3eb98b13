model "m" {
  source = "./models/missing.onnx"
}
