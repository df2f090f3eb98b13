provider "testing" {}

model "sentiment" {
  source = "./models/sentiment-v1.onnx"
}

endpoint "sentiment" {
  provider      = provider.testing
  model         = model.sentiment
  instance_type = "ml.c5.xlarge"
  replicas      = 2
}

output "url" {
  value = endpoint.sentiment.url
}
