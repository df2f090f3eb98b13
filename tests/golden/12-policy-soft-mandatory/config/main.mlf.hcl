provider "testing" {}

model "sentiment" {
  source = "./models/sentiment-v1.onnx"
}

endpoint "gpu" {
  provider      = provider.testing
  model         = model.sentiment
  instance_type = "ml.g5.2xlarge"
  replicas      = 4
}

policy "gpu_budget" {
  enforcement = "soft_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.estimated_cost_per_hour <= 5
  message     = "endpoints above $5/h need a finance review"
}

policy "model_has_version" {
  enforcement = "advisory"
  applies_to  = "model"
  condition   = change.after.version != null
  message     = "label every model with a version"
}
