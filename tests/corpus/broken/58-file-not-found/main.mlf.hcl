prompt "p" {
  template = file("prompts/summarize.txt")
}
