"""The `gapcast` command. It is the composition root: the one place that wires settings, Redis and
the three packages together; `service`, `jobs` and `forecasts` themselves keep service -> forecasts <- jobs.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
import redis

from forecasts import keys
from forecasts.canonical import InvalidInput
from forecasts.connection import RedisUnavailable, open_redis, redis_url
from forecasts.domains import Domain, DomainConfigError, load_domains
from forecasts.ingest import LoadResult, load_records, load_snapshot
from forecasts.redis_server import RedisServerError
from forecasts.settings import Settings, SettingsError
from forecasts.snapshot import SnapshotError, bundled_bytes
from forecasts.store import Store, StoreError

DAYS_PER_MONTH = 30.44


@dataclass
class App:
    """What every command gets: validated settings and the domain definitions."""

    settings: Settings
    domains: dict[str, Domain]

    @contextmanager
    def store(self) -> Iterator[Store]:
        """A Store on the configured (or embedded) Redis, for the duration of the command."""
        with self.redis_url() as url, self.store_at(url) as store:
            yield store

    @contextmanager
    def redis_url(self) -> Iterator[str]:
        """The Redis URL to use; with no GAPCAST_REDIS_URL, the embedded server runs meanwhile."""
        with redis_url(self.settings) as url:
            yield url

    @contextmanager
    def store_at(self, url: str) -> Iterator[Store]:
        """A Store on `url` (PING checked), closed at the end."""
        with open_redis(replace(self.settings, redis_url=url)) as client:
            yield Store(client, retain_s=self.settings.generation_retain_s,
                        raw_history=self.settings.raw_history)


pass_app = click.make_pass_decorator(App)


@click.group()
@click.version_option(package_name="gapcast")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """gapcast: how far behind closed models open-weight models are, per capability, and when they
    catch up. Settings come from GAPCAST_* environment variables (see the README)."""
    try:
        settings = Settings.from_env(os.environ)
        domains = load_domains(settings.domains_file)
    except (SettingsError, DomainConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = App(settings, domains)


@cli.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="Input format (default: from the "
              "file name, else sniffed).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the excluded records with their reasons to this .json or .csv file.")
@pass_app
def load(app: App, path: Path | None, fmt: str | None, report: Path | None) -> None:
    """Load the bundled snapshot, or a canonical CSV/JSON file at PATH, into Redis.

    Loading adds to what is stored. A file with any bad record is rejected whole (exit status 1) and
    the store is left exactly as it was.
    """
    with _errors(), app.store() as store:
        if path is None:
            result = load_snapshot(store, app.domains, bundled_bytes(), "bundled snapshot")
        else:
            raw = _read_input(path)
            fmt = fmt or {".csv": "csv", ".json": "json"}.get(path.suffix.lower())
            try:
                result = load_records(store, app.domains, raw, fmt, str(path))
            except InvalidInput as exc:
                _print_problems(exc)
                sys.exit(1)
    _print_load(result)
    if report:
        _write_report(report, [e.to_dict() for e in result.exclusions])
        click.echo(f"report: {len(result.exclusions)} excluded record(s) written to {report}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def gaps(app: App, as_json: bool) -> None:
    """One row per domain: score gap, lag, status and leaders, as of the latest data."""
    with _errors(), app.store() as store:
        rows = _summary(store)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(render_gaps_table(rows))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def benchmarks(app: App, as_json: bool) -> None:
    """Every benchmark (its id is what canonical files name), with its latest gap."""
    with _errors(), app.store() as store:
        gen = store.require_generation()
        rows = store.read_json(keys.gen_benchmark_summary(gen)) or []
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'benchmark':<34} {'unit':<6} {'status':<12} {'gap':>9} {'lag (mo)':>8}  as of")
    for r in rows:
        click.echo(f"{r['benchmark']:<34} {r['unit']:<6} {r['status']:<12} {_num(r['score_gap']):>9} "
                   f"{_months(r['lag_days']):>8}  {r['as_of'] or '-'}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@pass_app
def up(app: App, host: str, port: int, workers: int) -> None:
    """The main job: start Redis (embedded unless GAPCAST_REDIS_URL is set), load the bundled data on
    first start, print the per-domain table, and serve the API and dashboard until Ctrl-C."""
    with _errors(), app.redis_url() as url, app.store_at(url) as store:
        if store.current_generation() is None:
            click.echo("first start: loading the bundled snapshot ...")
            _print_load(load_snapshot(store, app.domains, bundled_bytes(), "bundled snapshot"))
        click.echo(render_gaps_table(_summary(store)))
        _serve(app, url, host, port, workers)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@pass_app
def api(app: App, host: str, port: int, workers: int) -> None:
    """Serve only the API and dashboard (no loading, no scheduler). For production run gunicorn
    directly: gunicorn -w 2 'service:create_app()' (see the README)."""
    with _errors(), app.redis_url() as url:
        _serve(app, url, host, port, workers)


def _serve(app: App, url: str, host: str, port: int, workers: int) -> None:
    from service import create_app
    from service.server import serve

    settings = replace(app.settings, redis_url=url)
    click.echo(f"gapcast is serving on http://{host}:{port}/ (API under /v1, docs at /docs); Ctrl-C stops it")
    serve(lambda: create_app(settings), host=host, port=port, workers=workers)


# --- helpers -----------------------------------------------------------------------------------------


def _summary(store: Store) -> list[dict[str, Any]]:
    gen = store.require_generation()
    return store.read_json(keys.gen_summary(gen)) or []


@contextmanager
def _errors() -> Iterator[None]:
    """Turn expected failures into one-line messages (exit status 1) instead of tracebacks."""
    try:
        yield
    except (RedisUnavailable, RedisServerError, StoreError, SnapshotError) as exc:
        raise click.ClickException(str(exc)) from None
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis error: {exc}") from None


def _read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read ({exc.strerror})") from None


def _print_problems(exc: InvalidInput) -> None:
    click.echo(f"rejected {exc.origin}: nothing was stored. {len(exc.problems)} problem(s):", err=True)
    for p in exc.problems:
        click.echo(f"  {exc.origin}: {p}", err=True)


def _print_load(result: LoadResult) -> None:
    d = result.to_dict()
    click.echo(f"loaded {result.origin} -> generation {result.generation}")
    click.echo(f"  accepted: {d['accepted']} scores ({d['new_scores']} new, {d['changed_scores']} changed, "
               f"{d['unchanged_scores']} unchanged), {d['new_models']} new models")
    click.echo(f"  rejected: {d['rejected']} records" + "".join(
        f"\n    {reason}: {n}" for reason, n in d["rejected_by_reason"].items()))
    click.echo(f"  stored: {d['models'].get('open', 0)} open and {d['models'].get('closed', 0)} closed "
               f"models, {d['benchmarks']} benchmarks")


def _write_report(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = ["source", "record", "name", "reason", "detail"]
    try:
        if path.suffix.lower() == ".csv":
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
        else:
            path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot write the report ({exc.strerror})") from None


def render_gaps_table(rows: list[dict[str, Any]]) -> str:
    """The per-domain table printed by `gapcast gaps` and `gapcast up`."""
    lines = [f"{'domain':<22} {'status':<12} {'gap (% of scale)':>16} {'lag (months)':>12}  "
             f"{'closed leader':<28} {'open leader':<28} as of"]
    for r in rows:
        lines.append(
            f"{r['domain']:<22} {r['status']:<12} {_num(r['score_gap']):>16} {_months(r['lag_days']):>12}  "
            f"{_leader(r['closed_leader']):<28} {_leader(r['open_leader']):<28} {r['as_of'] or '-'}")
    return "\n".join(lines)


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _months(days: float | None) -> str:
    return "-" if days is None else f"{days / DAYS_PER_MONTH:.1f}"


def _leader(ldr: dict[str, Any] | None) -> str:
    return "-" if not ldr else str(ldr["model"])[:28]


def main() -> None:
    """Entry point of the `gapcast` console script."""
    cli(prog_name="gapcast")
