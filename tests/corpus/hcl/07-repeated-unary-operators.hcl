output "o" {
  value = [!!true, - -1, --1, -(-2), !!!false]
}
