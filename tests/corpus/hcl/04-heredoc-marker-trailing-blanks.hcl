output "o" {
  value = <<EOT
hello
EOT   
}
