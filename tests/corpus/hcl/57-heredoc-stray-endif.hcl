output "o" {
  value = <<EOT
x
%{ endif }
EOT
}
