"""exitgate rules layer."""
