api_token = "s3cr3t-t0ken-value"
