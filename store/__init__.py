"""exitgate store layer."""
