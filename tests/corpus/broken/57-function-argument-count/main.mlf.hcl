locals {
  n = length()
}
