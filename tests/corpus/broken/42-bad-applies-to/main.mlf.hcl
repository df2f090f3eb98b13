policy "budget" {
  applies_to = "endpoints"
  condition  = true
}
