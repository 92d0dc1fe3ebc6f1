"""gapcast: service."""
