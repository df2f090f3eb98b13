locals {
  steps = [10, 50, 100]
  last  = local.steps[3]
}
