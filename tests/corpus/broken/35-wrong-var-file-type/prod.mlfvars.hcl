enabled = "yes"
