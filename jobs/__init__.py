"""gapcast: jobs."""
