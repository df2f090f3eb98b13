output "o" {
  value = "\Ub2705550"
}
