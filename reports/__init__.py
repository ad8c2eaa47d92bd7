"""Presentations shared by the CLI and the API (which may not import each other): the
timeline's JSON and CSV shapes and its chart. Uses rules and schemas only."""
