prompt "p" {
  template = change.after
}
