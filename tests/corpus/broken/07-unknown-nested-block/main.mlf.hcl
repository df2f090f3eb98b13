model "m" {
  source = "./models/m.onnx"
}

endpoint "e" {
  model = model.m
  constraint {
    p99_latency_ms = 50
  }
}
