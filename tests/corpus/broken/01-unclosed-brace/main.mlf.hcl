model "m" {
  source = "./m.onnx"

prompt "p" {
  template = "x"
}
