variable "env" {
  type = strng
}
