prompt "p" {
  template = "n: ${count.index}"
}
