model "m" {
  count  = 1e999
  source = "./m.onnx"
}
