prompt "p" {
  template = vars.env
}
