locals {
  a = "\uZZZZ"
}
