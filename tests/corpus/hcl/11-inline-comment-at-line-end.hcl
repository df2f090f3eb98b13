output "o" {
  value = 1 /* one */
}
