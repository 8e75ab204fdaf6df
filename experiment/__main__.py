"""``python -m experiment`` runs the CLI."""

from experiment.cli import main

main()
