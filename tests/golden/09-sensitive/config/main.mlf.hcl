provider "testing" {}

variable "api_token" {
  type      = string
  sensitive = true
}

model "sentiment" {
  source   = "./models/sentiment-v1.onnx"
  metadata = { owner = "nlp" }
}

endpoint "sentiment" {
  provider    = provider.testing
  model       = model.sentiment
  environment = { API_TOKEN = var.api_token, LOG_LEVEL = "info" }
}

output "token_hint" {
  value = "token of ${length(var.api_token)} characters"
}

output "url" {
  value = endpoint.sentiment.url
}
