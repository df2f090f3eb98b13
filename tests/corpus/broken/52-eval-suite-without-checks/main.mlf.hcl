model "m" {
  source = "./models/m.onnx"
}

eval_suite "golden" {
  target  = model.m
  dataset = "./data/golden.jsonl"
}
