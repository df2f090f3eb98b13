modle "m" {
  source = "./m.onnx"
}
