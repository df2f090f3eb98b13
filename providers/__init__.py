"""mlform.providers."""
