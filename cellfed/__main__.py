"""`python -m cellfed` is the `cellfed` command."""

from cellfed.cli import main

main()
