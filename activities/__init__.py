"""exitgate activities layer."""
