prompt "p" {
  template = "name: ${each.key}"
}
