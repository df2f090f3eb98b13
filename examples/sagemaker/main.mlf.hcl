# The quickstart's classifier on Amazon SageMaker, rolled out as a canary.
# This copy runs against moto on 127.0.0.1:8480 (see README.md); for real AWS,
# drop endpoint_url and set your region, role and bucket.

variable "model_file" {
  type        = string
  default     = "../quickstart/models/sentiment-v1.onnx"
  description = "Which model artifact to serve (try ../quickstart/models/sentiment-v2.onnx)"
}

provider "sagemaker" {
  region             = "us-east-1"
  execution_role_arn = "arn:aws:iam::123456789012:role/mlform-sagemaker"
  artifact_bucket    = "mlform-artifacts"
  endpoint_url       = "http://127.0.0.1:8480"
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
  provider      = provider.sagemaker
  model         = model.sentiment
  instance_type = "ml.c5.large"
  depends_on    = [eval_suite.golden]

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 3
    gates        = [eval_suite.golden]
    rollback_when {
      error_rate = 0.01
    }
  }
}

output "endpoint_name" {
  value = endpoint.sentiment.endpoint_name
}
