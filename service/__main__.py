"""`python -m service` runs the gapcast command."""

from service.cli import main

# The guard matters: forecast workers start with forkserver, which re-imports the main module.
if __name__ == "__main__":
    main()
