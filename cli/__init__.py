"""exitgate cli layer."""
