model "m" {
  source = "./a.onnx"
  source = "./b.onnx"
}
