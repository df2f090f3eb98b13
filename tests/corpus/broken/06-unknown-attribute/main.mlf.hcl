model "m" {
  source  = "./m.onnx"
  verison = "1.0"
}
