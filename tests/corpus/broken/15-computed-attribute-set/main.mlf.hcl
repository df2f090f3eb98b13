model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  model = model.m
  url   = "http://127.0.0.1:8080"
}
