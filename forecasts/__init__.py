"""gapcast: forecasts."""
