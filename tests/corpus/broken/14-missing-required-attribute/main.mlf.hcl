model "m" {
  version = "1.0"
}
