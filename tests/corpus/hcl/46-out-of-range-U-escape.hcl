output "o" {
  value = "\U00300000"
}
