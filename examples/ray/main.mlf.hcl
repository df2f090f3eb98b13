# mlform on a Ray cluster: the quickstart's classifier served by Ray Serve, gated by
# its eval suite and rolled out as a canary. See README.md for the walk-through.

variable "model_file" {
  type        = string
  default     = "../quickstart/models/sentiment-v1.onnx"
  description = "Which model artifact to serve (try ../quickstart/models/sentiment-v2.onnx)"
}

variable "ray_address" {
  type        = string
  default     = "http://127.0.0.1:8265"
  description = "The Ray cluster's dashboard"
}

provider "ray" {
  address   = var.ray_address
  http_port = 8000
}

model "sentiment" {
  source = var.model_file
  format = "onnx"
}

eval_suite "golden" {
  target  = model.sentiment
  dataset = "../quickstart/data/golden.jsonl"
  metric "accuracy" { min = 0.85 }
  metric "f1" { min = 0.80 }
}

endpoint "sentiment" {
  provider         = provider.ray
  model            = model.sentiment
  depends_on       = [eval_suite.golden]
  replicas         = 2
  cpus_per_replica = 1

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
