"""`python -m gapcast` runs the gapcast command."""

from gapcast.cli import main

# The guard matters: worker pools start with forkserver, which re-imports the main module.
if __name__ == "__main__":
    main()
