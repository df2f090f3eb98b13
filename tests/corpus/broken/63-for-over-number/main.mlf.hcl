locals {
  xs = [for x in 5 : x * 2]
}
