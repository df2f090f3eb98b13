# mlform prompts: a prompt served by a text-generation endpoint, gated by an
# eval suite with a JSON contract and an LLM judge. See README.md.
#
# models/assistant.pt stands in for an LLM: no LLM weights exist on this
# machine and nothing may be downloaded, so build_model.py trains a tiny,
# deterministic TorchScript text model that speaks the same V2 protocol
# (BYTES text_input -> text_output). Point model.assistant at a real model
# server's artifact and nothing else in this file changes.

variable "template_file" {
  type        = string
  default     = "prompts/classify.txt"
  description = "The prompt template (try prompts/chatty.txt: it breaks the JSON contract)"
}

provider "local" {
  gpus = "none"
}

model "assistant" {
  source = "models/assistant.pt"
  format = "torchscript"
}

# The endpoint the suite renders prompts against; it also acts as the judge.
endpoint "llm" {
  provider = provider.local
  model    = model.assistant
}

prompt "classify" {
  template     = file(var.template_file)
  variables    = ["review"]
  model_params = { temperature = 0, max_tokens = 64 }
}

eval_suite "contract" {
  target   = prompt.classify  # rendered with each record's variables...
  endpoint = endpoint.llm     # ...and sent to this endpoint
  dataset  = "data/reviews.jsonl"

  assert "json_schema" {
    schema = {
      type     = "object"
      required = ["sentiment", "confidence"]
      properties = {
        sentiment  = { enum = ["positive", "negative"] }
        confidence = { type = "number", minimum = 0, maximum = 1 }
      }
    }
  }

  assert "llm_judge" {
    judge         = endpoint.llm
    rubric        = "The output names the sentiment of the review."
    min_pass_rate = 0.8
  }
}

# What users call: updated only when the prompt's suite passes.
endpoint "app" {
  provider   = provider.local
  model      = model.assistant
  prompt     = prompt.classify
  depends_on = [eval_suite.contract]
}

output "app_url" {
  value = endpoint.app.url
}

output "prompt_version" {
  value = prompt.classify.version
}
