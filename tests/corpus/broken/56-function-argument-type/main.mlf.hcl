locals {
  tags = join(",", "nlp")
}
