locals {
  steps = [10, 50]
  text  = "steps: ${local.steps}"
}
