"""The exitgate Temporal worker (wired up in the workflows issue)."""
