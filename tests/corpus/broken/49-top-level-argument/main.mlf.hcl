name = "sentiment"
