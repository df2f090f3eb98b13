model "sentiment" {
  source = "./models/sentiment-v1.onnx"
}

prompt "classify" {
  template  = "Classify with ${model.sentiment.digest}: {{ text }}"
  variables = ["text"]
}

prompt "greeting" {
  template  = "Hello {{ name }}!"
  variables = ["name"]
}
