"""gapcast HTTP service: the Flask app factory is `service.create_app` (defined in service/app.py).

This package module imports nothing itself: `create_app` and the constants are looked up from
service/app.py on first use. That matters for metrics: prometheus_client picks its storage (in-process
or PROMETHEUS_MULTIPROC_DIR files) when it is first imported, so `import service.server` (which
`gapcast api`/`up` do before setting that folder) must not import it through this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers only: at run time the names are looked up lazily below
    from service.app import API_RETRY_S, API_SOCKET_TIMEOUT_S, MAX_CONTENT_LENGTH, GapcastApi, create_app

__all__ = ["API_RETRY_S", "API_SOCKET_TIMEOUT_S", "MAX_CONTENT_LENGTH", "GapcastApi", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from service import app

        return getattr(app, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")
