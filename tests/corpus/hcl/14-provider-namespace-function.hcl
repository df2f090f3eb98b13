locals {
  a = provider::aws::arn_parse("x")
}
output "o" {
  value = local.a
}
