provider "testing" {}

variable "env" {
  type        = string
  default     = "staging"
  description = "Deployment environment"
}

locals {
  team = "nlp"
}

model "sentiment" {
  source   = "./models/sentiment-v1.onnx"
  version  = "1.0.0"
  metadata = { owner = local.team, env = var.env }
}

prompt "summarize" {
  template     = "Summarize in {{ max_words }} words: {{ text }}"
  variables    = ["text", "max_words"]
  model_params = { temperature = 0.2, max_tokens = 256 }
}

eval_suite "golden" {
  target  = model.sentiment
  dataset = "./data/golden.jsonl"

  metric "accuracy" {
    min = 0.8
  }
}

endpoint "sentiment" {
  provider      = provider.testing
  model         = model.sentiment
  instance_type = "ml.c5.xlarge"
  replicas      = 2

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 60
    gates        = [eval_suite.golden]
  }
}

output "url" {
  value = endpoint.sentiment.url
}

output "model_digest" {
  value = model.sentiment.digest
}
