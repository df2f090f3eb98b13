# mlform quickstart: a real ONNX classifier served on this machine, gated by
# an eval suite and rolled out as a canary. See README.md for the walk-through.

variable "model_file" {
  type        = string
  default     = "models/sentiment-v1.onnx"
  description = "Which model artifact to serve (try models/sentiment-v2.onnx)"
}

provider "local" {
  gpus = "auto" # a GPU when one is visible, the CPU otherwise
}

model "sentiment" {
  source   = var.model_file
  format   = "onnx"
  metadata = { owner = "quickstart" }
}

# Checks the model in-process before anything is served, and, as the rollout's
# gate, checks each new version on the endpoint itself before traffic moves.
eval_suite "golden" {
  target  = model.sentiment
  dataset = "data/golden.jsonl"
  metric "accuracy" { min = 0.85 }
  metric "f1" { min = 0.80 }
}

endpoint "sentiment" {
  provider   = provider.local
  model      = model.sentiment
  depends_on = [eval_suite.golden]

  constraints {
    p99_latency_ms = 50
  }

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 3
    gates        = [eval_suite.golden]
    rollback_when {
      error_rate     = 0.01
      p99_latency_ms = 250
    }
  }
}

output "url" {
  value = endpoint.sentiment.url
}

output "infer_url" {
  value = "${endpoint.sentiment.url}/v2/models/sentiment/infer"
}
