output "o" {
  value = (true
    ? "a"
    : "b")
}
