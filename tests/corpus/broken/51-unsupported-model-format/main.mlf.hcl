model "m" {
  source = "./m.tflite"
  format = "tflite"
}
