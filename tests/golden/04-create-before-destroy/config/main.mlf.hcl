provider "testing" {}

model "sentiment" {
  source = "./models/sentiment-v1.onnx"
}

endpoint "sentiment" {
  provider      = provider.testing
  model         = model.sentiment
  instance_type = "ml.g4dn.xlarge"
  replicas      = 2

  lifecycle {
    create_before_destroy = true
  }
}

output "url" {
  value = endpoint.sentiment.url
}
