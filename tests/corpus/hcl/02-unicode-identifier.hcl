locals {
  π = 3.14159
}
output "o" {
  value = local.π
}
