locals {
  a = true &&
    false
}
