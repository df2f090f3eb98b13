locals {
  first = ["a", "b"][1e999]
}
