output /* the result */ "o" {
  value = 1
}
