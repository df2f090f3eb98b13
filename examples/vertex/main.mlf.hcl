# mlform on Vertex AI: the quickstart's classifier on a Vertex endpoint, gated by its
# eval suite and rolled out as a canary that mlform drives. README.md runs it against
# the fake Vertex AI in this repository (python -m tests.fakes.vertex).

variable "model_file" {
  type        = string
  default     = "../quickstart/models/sentiment-v1.onnx"
  description = "Which model artifact to serve (try ../quickstart/models/sentiment-v2.onnx)"
}

variable "api_endpoint" {
  type        = string
  default     = "127.0.0.1:8470"
  description = "The Vertex AI API: the fake's address; remove it from the provider block for the real service"
}

variable "staging_bucket" {
  type    = string
  default = "gs://mlform-staging"
}

provider "vertex" {
  project        = "mlform-demo"
  location       = "us-central1"
  staging_bucket = var.staging_bucket
  api_endpoint   = var.api_endpoint
}

model "sentiment" {
  source = var.model_file
  format = "onnx"
}

eval_suite "golden" {
  target  = model.sentiment
  dataset = "../quickstart/data/golden.jsonl"
  metric "accuracy" { min = 0.85 }
}

endpoint "sentiment" {
  provider     = provider.vertex
  model        = model.sentiment
  depends_on   = [eval_suite.golden]
  machine_type = "n1-standard-2"
  min_replicas = 1
  max_replicas = 2

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 3
    gates        = [eval_suite.golden]
    rollback_when {
      error_rate     = 0.01
      p99_latency_ms = 1000
    }
  }
}

output "url" {
  value = endpoint.sentiment.url
}

output "infer_url" {
  value = "${endpoint.sentiment.url}/v2/models/sentiment/infer"
}
