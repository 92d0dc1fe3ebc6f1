"""What happens over time: change events, alert subscriptions and deliveries, and each source's pull status.
"""
