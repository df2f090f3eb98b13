provider "testing" {}

variable "regions" {
  type    = map(number)
  default = { eu = 2, us = 3 }
}

model "sentiment" {
  source = "./models/sentiment-v1.onnx"
}

prompt "greeting" {
  for_each  = { en = "Hello", fr = "Bonjour", de = "Hallo" }
  template  = "${each.value} {{ name }}!"
  variables = ["name"]
}

endpoint "regional" {
  for_each = var.regions
  provider = provider.testing
  model    = model.sentiment
  replicas = each.value
}

output "urls" {
  value = { for k, e in endpoint.regional : k => e.url }
}

output "prompt_versions" {
  value = [for p in prompt.greeting : p.version]
}
