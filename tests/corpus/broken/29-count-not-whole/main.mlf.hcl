locals {
  n = 5
}

prompt "p" {
  count    = local.n / 2
  template = "x"
}
