output "o" {
  value = core::upper("x")
}
