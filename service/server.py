"""Run the API under gunicorn in-process (used by `gapcast up` and `gapcast api`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):
    """gunicorn with a fixed config and an app factory called in each worker (after fork, so every
    worker opens its own Redis connections)."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.factory()


def prepare_metrics_dir(path: Path) -> None:
    """Use `path` (emptied) for prometheus multiprocess metrics. Call before prometheus_client is imported:
    it picks its storage mode at import."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def child_exit(_server: Any, worker: Any) -> None:
    """gunicorn hook: drop a dead worker's live gauges from the shared metrics files."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(factory: Callable[[], Flask], *, host: str, port: int, workers: int, threads: int = 4) -> None:
    """Serve until SIGINT/SIGTERM; gunicorn then stops its workers gracefully and this returns via SystemExit."""
    GunicornServer(factory, {
        "child_exit": child_exit,
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "graceful_timeout": 10,
        "timeout": 30,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
    }).run()
