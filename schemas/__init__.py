"""exitgate schemas layer."""
