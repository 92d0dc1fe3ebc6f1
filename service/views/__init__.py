"""One blueprint per resource."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprints() -> list[Blueprint]:
    """Every blueprint of the API, in registration order."""
    from service.views import benchmarks, domains, health, models

    return [health.bp, domains.bp, benchmarks.bp, models.bp]
