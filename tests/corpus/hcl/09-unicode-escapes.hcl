output "o" {
  value = "\u00e9\U0001F600\t"
}
