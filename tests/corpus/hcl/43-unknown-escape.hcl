output "o" {
  value = "a\qb"
}
