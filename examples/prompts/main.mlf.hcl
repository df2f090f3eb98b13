# mlform prompts: a prompt served by a text-generation endpoint, gated by an
# eval suite with a JSON contract and an LLM judge, and rolled out like a
# model: a new prompt version is staged beside the old one, gated, and moved
# to by canary steps. See README.md.
#
# models/assistant.pt stands in for an LLM: no LLM weights exist on this
# machine and nothing may be downloaded, so build_model.py trains a tiny,
# deterministic TorchScript text model that speaks the same V2 protocol
# (BYTES text_input -> text_output). Point model.assistant at a real model
# server's artifact and nothing else in this file changes.

variable "template_file" {
  type        = string
  default     = "prompts/classify.txt"
  description = "The prompt template (prompts/classify-v2.txt rolls out; prompts/chatty.txt breaks the JSON contract)"
}

variable "max_tokens" {
  type        = number
  default     = 64
  description = "Cut replies after this many tokens (the app's server applies it; try 2)"
}

provider "local" {
  gpus = "none"
}

model "assistant" {
  source = "models/assistant.pt"
  format = "torchscript"
}

# The raw model: the suite renders prompts against it (a check before anything
# is staged), and it acts as the judge.
endpoint "llm" {
  provider = provider.local
  model    = model.assistant
}

prompt "classify" {
  template     = file(var.template_file)
  variables    = ["review"]
  model_params = { temperature = 0, max_tokens = var.max_tokens }
}

eval_suite "contract" {
  target   = prompt.classify  # rendered with each record's variables...
  endpoint = endpoint.llm     # ...and sent to this endpoint
  dataset  = "data/reviews.jsonl"

  assert "json_schema" {
    schema = {
      type       = "object"
      required   = ["sentiment", "confidence"]
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

# What users call: it serves the prompt (callers send the variables, here
# `review`; the server renders the template). A new prompt version is a new
# served version: staged beside the old one, gated by the suite run against
# the staged version itself, then given 10%, 50%, 100% of the traffic.
endpoint "app" {
  provider = provider.local
  model    = model.assistant
  prompt   = prompt.classify

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 2
    gates        = [eval_suite.contract]
    rollback_when {
      error_rate     = 0.01
      p99_latency_ms = 250
    }
  }
}

output "app_url" {
  value = endpoint.app.url
}

output "prompt_version" {
  value = prompt.classify.version
}
