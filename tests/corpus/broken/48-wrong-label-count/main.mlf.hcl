model {
  source = "./m.onnx"
}
