"""`python -m cli`: the same as the `exitgate` command (the dev supervisor starts children so)."""

from .main import main

main()
