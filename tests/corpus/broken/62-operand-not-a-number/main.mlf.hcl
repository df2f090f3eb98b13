locals {
  n = "two" * 2
}
