model "m" {
  source = "./m.onnx"
}

endpoint "e" {
  model = model.m

  rollout {
    strategy = "canery"
    steps    = [10, 100]
  }
}
