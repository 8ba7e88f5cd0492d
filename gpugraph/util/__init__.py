"""Small shared helpers with no graph knowledge (files, …)."""
