output "o" {
  value = <<-EOT
    a ${upper("b")}
    %{ if true }c%{ endif }
  EOT
}
