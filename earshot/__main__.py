"""``python -m earshot`` runs the ``earshot`` command."""

from earshot.roof.cli import cli

if __name__ == "__main__":
    cli(prog_name="earshot")
