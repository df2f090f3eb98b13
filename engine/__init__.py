"""mlform.engine."""
