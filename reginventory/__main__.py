"""``python -m reginventory`` runs the CLI."""

from reginventory.cli.main import main

main()
