prompt "greeting" {
  template  = "Hello {{ name }}!"
  variables = ["name"]
}

output "version" {
  value = prompt.greeting.version
}

output "template" {
  value = upper(prompt.greeting.template)
}

output "variables" {
  value = prompt.greeting.variables
}
