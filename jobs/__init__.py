"""gapcast jobs: source connectors, the refresh they trigger, and the scheduler that runs them."""
