model "m" {
  source = "models/m\u0000.onnx"
  format = "onnx"
}
