# The quickstart's classifier served in Docker containers, behind a router
# container, rolled out as a canary. See README.md for the walk-through.

variable "model_file" {
  type        = string
  default     = "../quickstart/models/sentiment-v1.onnx"
  description = "Which model artifact to serve (try ../quickstart/models/sentiment-v2.onnx)"
}

variable "image" {
  type        = string
  default     = "mlform-server:1"
  description = "An image with Python and mlform installed (README.md, step 1)"
}

provider "docker" {
  # host defaults to DOCKER_HOST, else unix:///var/run/docker.sock
  python = "python"
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
  provider   = provider.docker
  model      = model.sentiment
  image      = var.image
  replicas   = 2
  cpus       = 1
  memory     = "1g"
  depends_on = [eval_suite.golden]

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 5
    gates        = [eval_suite.golden]
    rollback_when {
      error_rate     = 0.01
      p99_latency_ms = 250
    }
  }
}

output "infer_url" {
  value = "${endpoint.sentiment.url}/v2/models/sentiment/infer"
}
