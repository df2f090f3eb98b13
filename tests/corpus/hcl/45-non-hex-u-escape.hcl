output "o" {
  value = "\u20m2"
}
