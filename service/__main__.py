"""`python -m service` runs the gapcast command."""

from service.cli import main

main()
