"""gapcast alerts: chat and webhook messages for the events of a refresh, and their delivery."""
