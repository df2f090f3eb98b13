# second file
prompt "p" {
  template = "b"
}
