locals {
  name = uper("sentiment")
}
