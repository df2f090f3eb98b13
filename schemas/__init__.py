"""mlform.schemas."""
