locals {
  m = { for c in ["a", "b"] : c
    => upper(c) }
}
output "o" {
  value = local.m
}
