modle "m" {
  source = "./m.onnx"
}

model "n" {
  sorce = "./m.onnx"
}

endpoint "e" {
  model    = model.n
  replicas = "two"
  url      = "http://127.0.0.1:8080"
}

policy "budget" {
  enforcement = "hard"
  condition   = true
}
