locals {
  text = "a %{ else } b"
}
