output "o" {
  value = "\u12"
}
