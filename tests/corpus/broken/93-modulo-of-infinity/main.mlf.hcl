locals {
  rest = -1e999 % 7
}
