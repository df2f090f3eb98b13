"""State: documents, backends, locks, journal."""
