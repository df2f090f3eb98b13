locals {
  sizes = { small = 1, large = 4 }
  n     = local.sizes["lage"]
}
