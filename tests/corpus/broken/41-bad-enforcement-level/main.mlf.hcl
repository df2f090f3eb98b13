policy "budget" {
  enforcement = "hard_mandatroy"
  applies_to  = "endpoint"
  condition   = true
}
