locals {
  padded = format("%99999999999d", 1)
}
