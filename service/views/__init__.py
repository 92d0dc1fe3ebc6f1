"""One blueprint per resource."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the API, in registration order."""
    from service.views import (
        alerts,
        backtest,
        benchmarks,
        domains,
        feeds,
        health,
        metrics,
        models,
        pages,
        releases,
        robustness,
        scores,
        sources,
        swap,
        track_record,
    )

    return [health.bp, domains.bp, benchmarks.bp, models.bp, backtest.bp, sources.bp, releases.bp, alerts.bp,
            metrics.bp, pages.bp, scores.bp, feeds.bp, robustness.bp, track_record.bp,
            swap.bp]
