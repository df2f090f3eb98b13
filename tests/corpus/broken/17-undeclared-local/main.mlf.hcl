locals {
  team = "nlp"
}

prompt "p" {
  template = "team: ${local.teem}"
}
