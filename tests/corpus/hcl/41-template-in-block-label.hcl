output "o_${var.x}" {
  value = 1
}
