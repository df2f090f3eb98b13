locals {
  a = true
    && false
}
