model "m" {
  source = "./m.onnx" @
}
