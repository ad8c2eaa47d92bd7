"""exitgate workflows layer."""
