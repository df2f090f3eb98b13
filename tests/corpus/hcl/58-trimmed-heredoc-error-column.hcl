output "o" {
  value = <<-EOT
    x
    ${ foo( }
  EOT
}
