output "o" {
  value = "\uD800"
}
