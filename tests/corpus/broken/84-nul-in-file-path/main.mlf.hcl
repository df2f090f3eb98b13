locals {
  body = file("prompts/a\u0000.txt")
}
