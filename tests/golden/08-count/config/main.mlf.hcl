provider "testing" {}

variable "replicas" {
  type    = number
  default = 2
}

model "sentiment" {
  source = "./models/sentiment-v1.onnx"
}

endpoint "shard" {
  count    = var.replicas
  provider = provider.testing
  model    = model.sentiment
  port     = 9000 + count.index
}

output "shard_urls" {
  value = endpoint.shard[*].url
}
