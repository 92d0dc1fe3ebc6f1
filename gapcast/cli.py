"""The `gapcast` command. It is the composition root: the one place that wires settings, Redis and
the three packages together; `service`, `jobs` and `forecasts` themselves keep service -> forecasts <- jobs.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import Any, cast

import click
import redis

from forecasts.measure.domains import Domain, DomainConfigError, load_domains
from forecasts.measure.figures import reproduce
from forecasts.publishing import outlook
from forecasts.publishing.freshness import generation_freshness, overdue
from forecasts.records.canonical import InvalidInput
from forecasts.records.reading import InputTooLarge, read_file
from forecasts.records.snapshot import SnapshotError, bundled_bytes, bundled_forecasts_bytes, parse_forecasts
from forecasts.settings import Settings, SettingsError, redact_url
from forecasts.storage import keys
from forecasts.storage.connection import RedisUnavailable, open_redis, redis_url
from forecasts.storage.ingest import LoadResult, load_records, load_snapshot
from forecasts.storage.redis_server import RedisServerError
from forecasts.storage.store import Store, StoreError, rollback_notice, store_for

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
            store = store_for(client, self.settings)
            note = rollback_notice(store, log=False)  # said once, on stderr
            if note:
                click.echo(f"Warning: {note}", err=True)
            yield store


def current_app() -> App:
    """The App of the running command, made on first use: settings are validated only once a command
    runs, so `gapcast CMD --help` shows help whatever the environment holds. Raises ClickException
    (one line, exit status 1) on a bad setting or domain file."""
    root = click.get_current_context().find_root()
    if root.obj is None:
        try:
            settings = Settings.from_env(os.environ)
            domains = load_domains(settings.domains_file)
        except (SettingsError, DomainConfigError) as exc:
            raise click.ClickException(str(exc)) from None
        logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        root.obj = App(settings, domains)
    return cast(App, root.obj)


def pass_app(f: Callable[..., Any]) -> Callable[..., Any]:
    """Like click's pass_obj: the command gets the App (validated settings, domains) as first argument."""
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return f(current_app(), *args, **kwargs)
    return wrapper


@click.group()
@click.version_option(package_name="gapcast")
def cli() -> None:
    """gapcast: how far behind closed models open-weight models are, per capability, and when they
    catch up. Settings come from GAPCAST_* environment variables (see the README)."""


@cli.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="Input format (default: from the "
              "file name, else sniffed).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the excluded records with their reasons, and every merge the name matcher made "
                   "(source name -> canonical id, rule), to this .json or .csv file.")
@pass_app
def load(app: App, path: Path | None, fmt: str | None, report: Path | None) -> None:
    """Load the bundled snapshot, or a canonical CSV/JSON file at PATH, into Redis.

    Loading adds to what is stored. A file with any bad record is rejected whole (exit status 1) and
    the store is left exactly as it was.
    """
    with _errors(), app.store() as store:
        if path is None:
            result = load_snapshot(store, app.domains, bundled_bytes(), "bundled snapshot")
            _install_shipped(store, result.generation)
        else:
            raw = _read_input(path, app.settings.max_input_bytes)
            fmt = fmt or {".csv": "csv", ".json": "json"}.get(path.suffix.lower())
            try:
                result = load_records(store, app.domains, raw, fmt, str(path))
            except InvalidInput as exc:
                _print_problems(exc)
                sys.exit(1)
    _print_load(result)
    if report:
        _write_report(report, [e.to_dict() for e in result.exclusions], result.merges)
        click.echo(f"report: {len(result.exclusions)} excluded record(s) and {len(result.merges)} merge(s) "
                   f"written to {report}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def gaps(app: App, as_json: bool) -> None:
    """One row per domain: score gap, lag, status and leaders, as of the latest data, and how old that data
    is (its newest data point, overall and per source; JSON: data_as_of, data_age_days, stale per row)."""
    with _errors(), app.store() as store:
        rows = _summary(store)
        fresh = _freshness(app, store)
    if as_json:
        age = {"data_as_of": fresh["as_of"], "data_age_days": fresh["data_age_days"], "stale": fresh["stale"]}
        click.echo(json.dumps([{**r, **age} for r in rows], indent=2))
        return
    click.echo(render_gaps_table(rows))
    click.echo(render_data_age(fresh))


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
@click.option("--json", "as_json", is_flag=True, help="Print JSON (now, monthly series, crossings).")
@pass_app
def robustness(app: App, as_json: bool) -> None:
    """Open models on public vs held-out benchmarks: threshold-crossing and horizontal lags per side."""
    with _errors(), app.store() as store:
        doc = store.read_json(keys.gen_robustness(store.require_generation())) or {}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"{'date':<11} {'public: crossing lag':>20} {'lag (mo)':>8}   {'held-out: crossing lag':>22} "
               f"{'lag (mo)':>8}  ratio")
    for r in doc.get("series", []):
        pub, hel = r["public"], r["held_out"]
        click.echo(f"{r['date']:<11} {_months(pub['threshold_lag_days']):>20} {_months(pub['lag_days']):>8}   "
                   f"{_months(hel['threshold_lag_days']):>22} {_months(hel['lag_days']):>8}  {_num(r['ratio'], 2)}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def figures(app: App, as_json: bool) -> None:
    """Published figures (Epoch AI, LMArena / AI Index, Ihle et al.) next to gapcast's value from the same
    data. Exit status 1 when any is outside its tolerance."""
    with _errors(), app.store() as store:
        rows = reproduce(store.read_dataset(store.require_generation()))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(f"{'figure':<24} {'published':>10} {'gapcast':>9} {'tol':>5}  {'unit':<10} within  what")
        for r in rows:
            click.echo(f"{r['figure']:<24} {r['published']:>10} {_num(r['gapcast'], 2):>9} {r['tolerance']:>5}  "
                       f"{r['unit']:<10} {'yes' if r['within'] else 'NO':<6}  {r['what']}")
    if not all(r["within"] for r in rows):
        sys.exit(1)


@cli.command()
@click.option("--access", type=click.Choice(["open", "closed"]), help="Only open or only closed models.")
@click.option("--country", help="Only models whose organisation is based in this country (ISO 3166 alpha-2).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def models(app: App, access: str | None, country: str | None, as_json: bool) -> None:
    """Every canonical model (newest first): id, organisation, country (ISO 3166 alpha-2), access, licence
    (an SPDX id) and release date. Ids are what canonical files and /v1/models/{id} name."""
    from forecasts.records.organisations import country_of

    with _errors(), app.store() as store:
        gen = store.require_generation()
        rows = [json.loads(v) for v in store.r.hvals(keys.gen_models(gen))]
    for r in rows:
        r["country"] = r.get("country") or country_of(r.get("organization"))
    rows = [r for r in rows if (not access or r["access"] == access)
            and (not country or r["country"] == country.upper())]
    rows.sort(key=lambda r: (r["release_date"], r["id"]), reverse=True)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'model':<40} {'organisation':<24} {'cc':<3} {'access':<7} {'licence':<30} released")
    for r in rows:
        click.echo(f"{r['id']:<40} {(r['organization'] or '-')[:24]:<24} {r['country'] or '-':<3} "
                   f"{r['access']:<7} {(r['licence'] or '-')[:30]:<30} {r['release_date']}")


@cli.command()
@click.option("--domain", required=True, help="Domain id (gapcast gaps lists them).")
@click.option("--max-gap", default=5.0, show_default=True, type=click.FloatRange(0, 100),
              help="Largest gap to the closed leader, in % of the benchmark's scale (a 0-100 benchmark's points).")
@click.option("--benchmark", help="One of the domain's benchmarks (default: its primary benchmark).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer of GET /v1/swap as JSON.")
@pass_app
def swap(app: App, domain: str, max_gap: float, benchmark: str | None, as_json: bool) -> None:
    """The swap question: open models within MAX_GAP of the closed leader on the domain's primary benchmark,
    cheapest first, with their Artificial Analysis price (USD per million tokens: blended 3:1, input, output)
    and output speed (tokens/s) against the closed leader's, each with its date."""
    from forecasts.measure.compute import benchmark_gaps
    from forecasts.measure.views import swap as swap_answer

    with _errors(), app.store() as store:
        gen = store.require_generation()
        row = next((r for r in store.read_json(keys.gen_summary(gen)) or [] if r["domain"] == domain), None)
        if row is None:
            raise click.ClickException(f"no domain {domain!r}; domains: {', '.join(app.domains)}")
        chosen = benchmark or row.get("primary_benchmark")
        if benchmark is not None and benchmark not in (row.get("configured_benchmarks") or []):
            raise click.ClickException(f"--benchmark {benchmark!r} is not one of {domain!r}'s benchmarks: "
                                       f"{', '.join(row.get('configured_benchmarks') or [])}")
        if not chosen:
            raise click.ClickException(f"domain {domain!r} has no data yet")
        data = store.read_dataset(gen)
    answer = swap_answer(data, benchmark_gaps(data, {chosen})[chosen], max_gap)
    if as_json:
        click.echo(json.dumps({"domain": domain, **answer}, indent=2))
        return
    click.echo(render_swap(domain, answer))


def render_swap(domain: str, answer: dict[str, Any]) -> str:
    """The swap answer as a table: the closed leader, then the candidates (cheapest first), then the verdict."""
    head = (f"{domain}: open models within {answer['max_gap']:g} ({answer['gap_unit']}) of the closed leader on "
            f"{answer['benchmark']} (as of {answer['as_of'] or '-'}); prices USD per million tokens")
    cols = (f"{'model':<34} {'cc':<3} {'score':>8} {'gap':>6} {'blended':>8} {'input':>7} {'output':>7} "
            f"{'tok/s':>6}  price as of")
    lines = [head, cols]
    for label, r in [("closed", answer["closed_leader"]), *(("open", c) for c in answer["candidates"])]:
        if r is None:
            continue
        lines.append(f"{(r['model'] + (' *' if label == 'closed' else ''))[:34]:<34} {r['country'] or '-':<3} "
                     f"{_num(r['score']):>8} {_num(r['gap']):>6} {_num(r['price_blended'], 3):>8} "
                     f"{_num(r['price_input'], 3):>7} {_num(r['price_output'], 3):>7} "
                     f"{_num(r['output_tokens_per_second'], 0):>6}  {r['offer_as_of'] or '-'}")
    lines.append("* the closed leader" + ("" if answer["candidates"] else "; no open model is within the gap"))
    if answer["cheapest"]:
        lines.append(answer["cheapest"]["sentence"])
    return "\n".join(lines)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@click.option("--no-scheduler", is_flag=True, help="Serve only (an API replica): no source pulls, no forecast "
              "fitting, no alert delivery; another machine runs `gapcast scheduler`.")
@pass_app
def up(app: App, host: str, port: int, workers: int, no_scheduler: bool) -> None:
    """The whole product on one machine: start Redis (embedded unless GAPCAST_REDIS_URL is set), load the
    bundled data on first start, print the per-domain table, then run the API and dashboard, the scheduler
    (source pulls, forecasts) and the alert deliverer as supervised processes until Ctrl-C / SIGTERM.

    One log stream, each line prefixed with its part ([api], [scheduler], [deliver]); a part that dies is
    restarted with backoff."""
    from gapcast.supervise import Part, Supervisor

    require_free_port(host, port)
    with _errors(), app.redis_url() as url, app.store_at(url) as store:
        click.echo(describe_redis(store.r, url, embedded=not app.settings.redis_url))
        if store.current_generation() is None:
            click.echo("first start: loading the bundled snapshot ...")
            loaded = load_snapshot(store, app.domains, bundled_bytes(), "bundled snapshot")
            _print_load(loaded)
            _install_shipped(store, loaded.generation)
        click.echo(render_gaps_table(_summary(store)))
        click.echo(render_data_age(_freshness(app, store)))
        # Forecasts still pending are fitted by the scheduler part in the background: the API serves now.
        me = [sys.executable, "-m", "gapcast"]
        parts = [Part("api", [*me, "api", "--host", host, "--port", str(port), "--workers", str(workers)])]
        if not no_scheduler:
            parts += [Part("scheduler", [*me, "scheduler", "--without-alerts"]),
                      Part("deliver", [*me, "alerts", "deliver"])]
        env = {**os.environ, "GAPCAST_REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
        # links in alerts and the Atom feed name this server unless the operator set the public URL
        if not os.environ.get("GAPCAST_DASHBOARD_URL"):
            env["GAPCAST_DASHBOARD_URL"] = local_url(host, port)
        click.echo(f"gapcast is up on {local_url(host, port)} (API under /v1, docs at /docs): "
                   f"{', '.join(p.name for p in parts)}; Ctrl-C stops it")
        Supervisor(parts, env=env).run()
        click.echo("gapcast stopped")


def local_url(host: str, port: int) -> str:
    """The dashboard's URL on this machine for a server listening on ``host:port`` (a wildcard address is
    reached on loopback; an IPv6 address is bracketed)."""
    name = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{name}]:{port}/" if ":" in name else f"http://{name}:{port}/"


def describe_redis(r: redis.Redis, url: str, *, embedded: bool) -> str:
    """One line naming the Redis in use: server name, version, binary, where (URL redacted)."""
    try:
        info = r.info("server")
    except redis.RedisError as exc:
        return f"redis: {redact_url(url)} ({'embedded' if embedded else 'GAPCAST_REDIS_URL'}; INFO failed: {exc})"
    name = str(info.get("server_name") or "redis")
    version = info.get(f"{name}_version") or info.get("redis_version") or "?"
    binary = info.get("executable") or "?"
    where = "embedded, " if embedded else "GAPCAST_REDIS_URL, "
    return f"redis: {name} {version} ({binary}; {where}{redact_url(url)})"


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="gunicorn workers.")
@pass_app
def api(app: App, host: str, port: int, workers: int) -> None:
    """Serve only the API and dashboard (no loading, no scheduler). For production run gunicorn
    directly with the same settings: gunicorn -c python:service.gunicorn_conf 'service:create_app()'."""
    require_free_port(host, port)
    with _errors(), app.redis_url() as url:
        _serve(app, url, host, port, workers)


def require_free_port(host: str, port: int) -> None:
    """Fail with a one-line error when `host:port` cannot be listened on (in use, or not an address of this
    machine), before anything starts: otherwise the API would retry the bind and die, and `up` would
    restart it forever. Binds as gunicorn does (SO_REUSEADDR), then lets go."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise click.ClickException(f"--host {host}: not an address ({exc.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(addr)
        except OSError as exc:
            raise click.ClickException(
                f"cannot listen on {host}:{port}: {exc.strerror} (another gapcast or server holds it? "
                "choose another --port)") from None


def _serve(app: App, url: str, host: str, port: int, workers: int) -> None:
    from service.server import prepare_metrics_dir, serve

    prepare_metrics_dir(app.settings.data_dir / "prometheus")
    from service import create_app  # after the metrics dir is set: prometheus_client reads it at import

    settings = replace(app.settings, redis_url=url)
    click.echo(f"gapcast is serving on http://{host}:{port}/ (API under /v1, docs at /docs); Ctrl-C stops it")
    serve(lambda: create_app(settings), host=host, port=port, workers=workers)


@cli.command()
@click.argument("domain", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the forecasts as JSON.")
@pass_app
def forecast(app: App, domain: str | None, as_json: bool) -> None:
    """Forecast when open models catch up: every domain (and benchmark), or one DOMAIN.

    Series whose data did not change since their last forecast are not refit.
    """
    with _errors(), app.store() as store:
        gen = store.require_generation()
        if domain is not None and domain not in _domain_ids(store, gen):
            raise click.ClickException(f"unknown domain {domain!r} (known: {', '.join(_domain_ids(store, gen))})")
        only = (lambda r: r.kind == "domain" and r.target == domain) if domain else (lambda r: True)
        _compute_pending(store, gen, only, app.domains)
        docs = [_forecast_doc(store, gen, "domain", d, m) for d in ([domain] if domain else _domain_ids(store, gen))
                for m in outlook.METRICS]
        today = store.now().date()
    # a median catch-up date that passed without the catch-up is overdue (a flag), never a negative count
    rows = [{**d["forecast"], "catch_up_overdue": overdue(d["forecast"]["catch_up"].get("p50"), today)}
            for d in docs if d]
    _output(rows, as_json, render_forecast_table)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option("--candidates", "optional", default="", metavar="NAMES",
              help="Also compare the slow candidates: ets (needs statsforecast), prophet; comma-separated.")
@click.option("--paths", "n_paths", type=click.IntRange(50, 5000), default=None, metavar="N",
              help="Sample paths per forecast (default: the published calibration's 200). 1000 makes the "
                   "figures about 5x steadier between seeds, and the run about 2x slower.")
@click.option("--seed", type=int, default=None, help="The paths' random seed (default: the published one).")
@pass_app
def backtest(app: App, as_json: bool, optional: str, n_paths: int | None, seed: int | None) -> None:
    """The engine's rolling-origin backtest on the current data: accuracy against the random walk,
    interval coverage, catch-up probabilities against what happened, and the candidate selection."""
    import importlib.util

    from forecasts.engine.candidates import OPTIONAL_CANDIDATES, OPTIONAL_MODULES
    from forecasts.engine.report import report

    names = [n.strip() for n in optional.split(",") if n.strip()]
    unknown = [n for n in names if n not in OPTIONAL_CANDIDATES]
    if unknown:
        raise click.BadParameter(f"unknown candidate(s) {', '.join(unknown)}; choose from "
                                 f"{', '.join(OPTIONAL_CANDIDATES)}", param_hint="--candidates")
    missing = [f"{n} needs {OPTIONAL_MODULES[n]}" for n in names
               if importlib.util.find_spec(OPTIONAL_MODULES[n]) is None]
    if missing:
        raise click.ClickException(f"{'; '.join(missing)}: pip install -e '.[research]'")
    with _errors(), app.store() as store:
        data = store.read_dataset(store.require_generation())
    from forecasts.engine import backtest as bt

    doc = report(data, app.domains, optional=names, n_paths=n_paths or bt.BACKTEST_PATHS,
                 seed=bt.SEED if seed is None else seed)
    click.echo(json.dumps(doc, indent=2) if as_json else render_backtest_report(doc))


@cli.command()
@click.option("--without-alerts", is_flag=True, help="Leave alert delivery to `gapcast alerts deliver` (what "
              "`gapcast up` runs as its own part).")
@pass_app
def scheduler(app: App, without_alerts: bool) -> None:
    """Run the scheduled jobs (source pulls, forecasts, alert delivery) until Ctrl-C / SIGTERM. Safe to run
    on several machines: each job runs once per interval (Redis leases)."""
    from jobs.schedule import ALERTS_JOB

    with _errors(), app.store() as store:
        _sync_subscriptions_file(app, store)
        _run_jobs(app, store, "scheduler", lambda name: not (without_alerts and name == ALERTS_JOB))


def _run_jobs(app: App, store: Store, label: str, keep: Callable[[str], bool]) -> None:
    """Run the scheduled jobs whose name `keep` accepts until SIGINT/SIGTERM."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from gapcast.supervise import StopFlag
    from jobs.http import Http
    from jobs.schedule import Deps, build_sources, job_specs
    from jobs.scheduler import build, quiet_apscheduler

    sources = build_sources(app.settings, store)
    deps = Deps(store, app.domains, Http(app.settings.source_timeout_s), app.settings, _sender(app.settings))
    specs = [s for s in job_specs(app.settings, sources) if keep(s.name)]
    quiet_apscheduler()
    stop = StopFlag()  # not threading.Event: its set() may deadlock in a signal handler
    # Signals only set `stop`; the main thread then shuts the scheduler down and waits for running jobs,
    # so no job is cut off mid-write by the store closing under it (the supervisor SIGKILLs a part that
    # takes longer than its stop timeout).
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    sched = build(deps, specs, BackgroundScheduler(timezone=UTC))
    sched.start()
    click.echo(f"{label}: " + ", ".join(f"{s.name} every {s.every_s} s" for s in specs))
    while not stop.wait(1.0):  # a timed wait: signal handlers run between waits on every Python
        pass
    sched.shutdown(wait=True)
    click.echo(f"{label} stopped")


@cli.command()
@click.argument("source", type=click.Choice(["epoch-hub", "artificial-analysis", "lmarena", "canonical"]))
@click.argument("location", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@pass_app
def ingest(app: App, source: str, location: str | None, as_json: bool) -> None:
    """Run one pull of SOURCE by hand (LOCATION: a URL or file instead of the configured one), then fit
    the forecasts it changed. Example: gapcast ingest canonical ./new.csv"""
    from jobs.http import Http
    from jobs.refresh import run_pull
    from jobs.schedule import build_sources

    settings = app.settings
    if location:
        overrides: dict[str, Any] = {{"epoch-hub": "epoch_url", "artificial-analysis": "aa_url",
                                      "lmarena": "lmarena_url", "canonical": "canonical_url"}[source]: location}
        settings = replace(settings, **overrides)
    with _errors(), app.store() as store:
        src = build_sources(settings, store).get(source)
        if src is None:
            raise click.ClickException(f"source {source} is off: configure it (see `gapcast sources`)")
        before = _summary(store) if store.current_generation() else []
        outcome = run_pull(store, app.domains, src, Http(settings.source_timeout_s),
                           retry_max_s=settings.retry_max_s)
        after: list[dict[str, Any]] = []
        if outcome.result is not None and outcome.result.changed:
            _compute_pending(store, outcome.result.generation, lambda r: True, app.domains)
            after = store.read_json(keys.gen_summary(outcome.result.generation)) or []
    if as_json:
        click.echo(json.dumps(outcome.to_dict(), indent=2))
    elif not outcome.ok:
        click.echo(f"{source}: pull failed: {outcome.error}", err=True)
    elif outcome.not_modified:
        click.echo(f"{source}: not modified since the last pull")
    elif outcome.result is not None:
        d = outcome.result.to_dict()
        click.echo(f"{source}: {d['accepted']} scores accepted ({d['new_scores']} new, {d['changed_scores']} "
                   f"changed), {outcome.rejected} rejected; " + (f"generation {d['generation']}, "
                   f"{len(d['touched_domains'])} domain(s) updated" if d["changed"] else "nothing changed"))
        for line in domain_changes(before, after, d.get("touched_domains") or []):
            click.echo(f"  {line}")
    if not outcome.ok:
        sys.exit(1)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def sources(app: App, as_json: bool) -> None:
    """Each source: on or off, last success, last error, consecutive failures, rows accepted and rejected."""
    from forecasts.activity import source_status as status
    enabled = status.enabled_sources(app.settings)
    with _errors(), app.store() as store:
        rows = [{**row, "enabled": row["source"] in enabled} for row in status.all_statuses(store, status.SOURCE_IDS)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'source':<20} {'on':<4} {'last success':<33} {'fails':>5} {'accepted':>8} {'rejected':>8}  "
               "last error")
    for r in rows:
        error = r.get("last_error", "") if r.get("consecutive_failures") else ""
        click.echo(f"{r['source']:<20} {'yes' if r['enabled'] else 'no':<4} {r.get('last_success_at', '-'):<33} "
                   f"{r.get('consecutive_failures', 0):>5} {r.get('rows_accepted', '-'):>8} "
                   f"{r.get('rows_rejected', '-'):>8}  {error}")


@cli.group()
def alerts() -> None:
    """Alert subscriptions and deliveries (Slack, Discord, Teams, signed webhooks)."""


@alerts.command("deliver")
@click.option("--once", is_flag=True, help="Plan and send what is due now, then exit.")
@pass_app
def alerts_deliver(app: App, once: bool) -> None:
    """Plan deliveries from new events and send every due one, every 2 s until Ctrl-C / SIGTERM (the
    alert deliverer of `gapcast up`); with --once, one round, then exit."""
    from jobs.alerts.deliver import deliver_due, plan
    from jobs.schedule import ALERTS_JOB

    if not once:
        with _errors(), app.store() as store:
            _run_jobs(app, store, "deliver", lambda name: name == ALERTS_JOB)
        return
    with _errors(), app.store() as store:
        sender = _sender(app.settings)
        planned = plan(store, now=sender.clock(), deadline_s=app.settings.alert_deadline_s, settle_s=0)
        counts = deliver_due(store, sender)
    click.echo(f"planned {planned} deliveries; " + (", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
                                                      or "nothing due"))


@alerts.command("test")
@click.argument("subscription")
@pass_app
def alerts_test(app: App, subscription: str) -> None:
    """Send a sample message to SUBSCRIPTION (an id from `gapcast alerts list`)."""
    import requests

    from forecasts.activity import subscriptions
    from jobs.alerts.deliver import send_test

    with _errors(), app.store() as store:
        sub = subscriptions.get(store, subscription)
        if sub is None:
            raise click.ClickException(f"no subscription {subscription!r}")
        try:
            status = send_test(store, _sender(app.settings), sub)
        except requests.RequestException as exc:
            raise click.ClickException(f"sending failed: {type(exc).__name__}") from None
    click.echo(f"subscription {sub.id} ({sub.kind}, {sub.public()['url']}): HTTP {status}")
    if not 200 <= status < 300:
        sys.exit(1)


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def alerts_list(app: App, as_json: bool) -> None:
    """Subscriptions (URLs redacted)."""
    from forecasts.activity import subscriptions
    with _errors(), app.store() as store:
        rows = [s.public() for s in subscriptions.list_all(store)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no subscriptions: add one with POST /v1/subscriptions (admin token) or GAPCAST_SUBSCRIPTIONS_FILE")
        return
    for r in rows:
        click.echo(f"{r['id']:<14} {r['kind']:<8} {r['url']:<40} {'paused' if r['paused'] else 'active':<7} "
                   f"domains={','.join(r['domains']) or 'all'} events={','.join(r['events']) or 'all'}")


def _sender(settings: Settings) -> Any:
    from jobs.alerts.deliver import Sender

    return Sender(settings.dashboard_url, allow_private=settings.allow_private_webhooks)


def _sync_subscriptions_file(app: App, store: Store) -> None:
    """Load GAPCAST_SUBSCRIPTIONS_FILE: its subscriptions replace those it loaded before."""
    from forecasts.activity import subscriptions
    path = app.settings.subscriptions_file
    if path is None:
        return
    try:
        loaded = subscriptions.load_file(path, allow_private=app.settings.allow_private_webhooks,
                                         now=store.now().isoformat())
    except subscriptions.SubscriptionError as exc:
        raise click.ClickException(str(exc)) from None
    keep = {s.id for s in loaded}
    for old in subscriptions.list_all(store):
        if old.origin == "config" and old.id not in keep:
            subscriptions.delete(store, old.id)
    for sub in loaded:
        existing = subscriptions.get(store, sub.id)
        subscriptions.save(store, replace(sub, created_at=existing.created_at) if existing else sub)
    click.echo(f"subscriptions: {len(loaded)} loaded from {path}")


# --- helpers -----------------------------------------------------------------------------------------


def domain_changes(before: list[dict[str, Any]], after: list[dict[str, Any]], touched: list[str]) -> list[str]:
    """One line per touched domain: its status, score gap and lag before -> after (summary rows of two
    generations; a domain missing on one side shows '-')."""
    old, new = {r["domain"]: r for r in before}, {r["domain"]: r for r in after}
    lines = []
    for d in touched:
        a, b = old.get(d, {}), new.get(d, {})
        lines.append(f"{d}: {a.get('status', '-')} -> {b.get('status', '-')}, gap {_num(a.get('score_gap'))} -> "
                     f"{_num(b.get('score_gap'))} % of scale, lag {_months(a.get('lag_days'))} -> "
                     f"{_months(b.get('lag_days'))} months")
    return lines


def _domain_ids(store: Store, gen: str) -> list[str]:
    return [row["domain"] for row in store.read_json(keys.gen_summary(gen)) or []]


def _forecast_doc(store: Store, gen: str, kind: str, target: str, metric: str) -> dict[str, Any] | None:
    raw = outlook.read_forecast(store, gen, kind, target, metric)
    return json.loads(raw) if raw else None


def _install_shipped(store: Store, gen: str) -> None:
    """Install the forecasts shipped with the bundled snapshot for `gen`'s pending series, saying how many
    matched; the rest (a stale shipped file, other data) stay pending and are fitted as usual."""
    raw = bundled_forecasts_bytes()
    done = outlook.install_shipped(store, gen, parse_forecasts(raw) if raw is not None else None)
    line = f"shipped forecasts: {done.installed} installed, {done.present} already stored"
    if done.missing:
        line += (f"; {len(done.missing)} series have no shipped forecast for their data "
                 f"({done.reason or 'the data differs from the snapshot they were built from'}): they stay "
                 "pending and will be fitted (by the scheduler in gapcast up, or gapcast forecast)")
    click.echo(line, err=True)


def _compute_pending(store: Store, gen: str, only: Callable[[outlook.SeriesRef], bool],
                     domains: dict[str, Domain]) -> None:
    """Fit the forecasts `only` selects that are missing, with a progress bar on a terminal."""
    from jobs.refresh import forecast_pending

    count = len(outlook.pending(store, gen, only))
    if not count:
        return
    started = time.monotonic()
    if sys.stderr.isatty():
        with click.progressbar(length=count, label=f"forecasting {count} series", file=sys.stderr) as bar:
            last = 0

            def advance(done: int, _total: int) -> None:
                nonlocal last
                bar.update(done - last)
                last = done
            forecast_pending(store, only=only, progress=advance, domains=domains)
    else:
        forecast_pending(store, only=only, domains=domains)
    click.echo(f"forecast {count} series in {time.monotonic() - started:.1f} s", err=True)


def _output(rows: list[dict[str, Any]], as_json: bool, render: Callable[[list[dict[str, Any]]], str]) -> None:
    """Print `rows` as JSON or as the command's table."""
    click.echo(json.dumps(rows, indent=2) if as_json else render(rows))


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


def _read_input(path: Path, limit: int) -> bytes:
    """The file's bytes, read in chunks and refused past `limit` (GAPCAST_MAX_INPUT_BYTES) in one line."""
    try:
        return read_file(path, limit)
    except InputTooLarge as exc:
        raise click.ClickException(str(exc)) from None
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


def _write_report(path: Path, rows: list[dict[str, Any]], merges: list[dict[str, str]]) -> None:
    """CSV: one row per excluded record (`kind` excluded) and per merge (`kind` merged: `name` merged into `id`
    by `rule`, `variant` the configuration tags it carried); JSON: `{"excluded": [...], "merges": [...]}`."""
    fields = ["kind", "source", "record", "name", "reason", "detail", "id", "rule", "variant"]
    try:
        if path.suffix.lower() == ".csv":
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows({"kind": "excluded", **r} for r in rows)
                writer.writerows({"kind": "merged", "reason": "merged", **m,
                                  "detail": f"{m['name']} -> {m['id']} ({m['rule']})"} for m in merges)
        else:
            path.write_text(json.dumps({"excluded": rows, "merges": merges}, indent=2), encoding="utf-8")
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


def _freshness(app: App, store: Store) -> dict[str, Any]:
    """The current generation's data age (:meth:`forecasts.publishing.freshness.Freshness.to_dict`) by the
    store's clock."""
    fresh = generation_freshness(store, store.require_generation())
    return fresh.to_dict(store.now(), app.settings.stale_after_days)


def render_data_age(fresh: dict[str, Any]) -> str:
    """`data as of 2026-07-09: 146 days old (STALE: ...)` and the newest data per source, from
    :meth:`forecasts.publishing.freshness.Freshness.to_dict`."""
    if not fresh["as_of"]:
        return "no dated data yet"
    days = fresh["data_age_days"]
    line = f"data as of {fresh['as_of']} (newest data point): {days} day{'' if days == 1 else 's'} old"
    if fresh["stale"]:
        line += (f" - STALE (older than GAPCAST_STALE_AFTER_DAYS={fresh['stale_after_days']}): the gaps describe "
                 f"{fresh['as_of']}, not today")
    per = ", ".join(f"{src} {v['as_of']}" for src, v in fresh["sources"].items())
    return line + (f"\nnewest data per source: {per}" if per else "")


def render_forecast_table(forecasts: list[dict[str, Any]]) -> str:
    """Domain forecasts as a table: catch-up p50 ("overdue" when `catch_up_overdue`), P(within 12 months),
    lag verdict, reason."""
    lines = [f"{'domain':<22} {'metric':<10} {'status':<18} {'model':<13} {'catch-up p50':<12} "
             f"{'P(12 mo)':>8} {'lag trend':<10} reason"]
    for f in forecasts:
        cu, trend = f["catch_up"], f["lag_trend"]
        p12 = cu["probability_within"].get("12")
        lines.append(f"{f['target']:<22} {f['metric']:<10} {f['status']:<18} {f['model'] or '-':<13} "
                     f"{_p50(cu['p50'], f.get('catch_up_overdue', False)):<12} "
                     f"{'-' if p12 is None else f'{p12:.0%}':>8} "
                     f"{trend.get('verdict') or '-':<10} {f['reason'][:100]}")
    return "\n".join(lines)


def _p50(p50: str | None, late: bool) -> str:
    return "-" if not p50 else f"{p50} overdue" if late else p50


def _interval(ci: list[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.2f}-{ci[1]:.2f}"


def render_backtest_report(doc: dict[str, Any]) -> str:
    """The backtest report's headline, calibration, probability and selection tables."""
    lines = ["accuracy (geometric mean over series of MAE / random-walk MAE; < 1 beats the random walk):"]
    intervals = doc.get("headline_ci_90") or {}
    lines += [f"  {k:<48} {_num(v, 3)}  (90%: {_interval(intervals.get(k))})" for k, v in doc["headline"].items()]
    lines.append(f"\n{'kind':<10} {'metric':<10} {'half':<6} {'h':>3} {'cover_80':>9} {'90% (cut-offs)':>15} "
                 f"{'n':>6}")
    lines += [f"{c['kind']:<10} {c['metric']:<10} {c.get('half', 'all'):<6} {c['horizon_months']:>3} "
              f"{_num(c.get('coverage_80'), 3):>9} {_interval(c.get('ci_90')):>15} {c['n']:>6}"
              for c in doc["calibration"]]
    lines.append(f"\n{'question':<9} {'kind':<10} {'half':<6} {'N':>3} {'n':>5} {'base':>6} {'auc':>6} "
                 f"{'brier':>7} {'b_base':>7} {'model':>6}")
    for name in ("catch_up", "retake"):
        for c in doc[name]:
            lines.append(f"{name:<9} {c['kind']:<10} {c.get('half', 'all'):<6} {c['within_months']:>3} {c['n']:>5} "
                         f"{_num(c.get('base_rate'), 3):>6} {_num(c.get('auc'), 3):>6} {_num(c.get('brier'), 4):>7} "
                         f"{_num(c.get('brier_base_rate'), 4):>7} {_num(c.get('share_from_model'), 2):>6}")
    lines.append(f"\nselection: {doc['selection']['rule']}")
    for uc, sel in doc["selection"]["unit_classes"].items():
        lines.append(f"  {uc}: rule picks {sel.get('chosen_by_rule') or 'none (no candidate could be scored)'}, "
                     f"published {sel.get('published') or 'none'}")
        lines.append(f"    {'6-month MAE / random walk':<18} {'lag tune':>8} {'judge':>6} {'gap tune':>8} {'judge':>6}")
        for name, f in (sel.get("candidates") or {}).items():
            tune, judge = f.get("tune") or {}, f.get("judge") or {}
            lines.append(f"    {name:<18} {_num(tune.get('lag_mae_6_vs_rw'), 3):>8} "
                         f"{_num(judge.get('lag_mae_6_vs_rw'), 3):>6} {_num(tune.get('score_gap_mae_6_vs_rw'), 3):>8} "
                         f"{_num(judge.get('score_gap_mae_6_vs_rw'), 3):>6} ({judge.get('benchmarks', 0)} judged)")
    lines += _series_lines(doc.get("series") or [])
    return "\n".join(lines)


def _series_lines(series: list[dict[str, Any]]) -> list[str]:
    """How many series the backtest scored, by published candidate, and the ones with none named."""
    by: dict[str, int] = {}
    for s in series:
        by[s.get("published") or "none"] = by.get(s.get("published") or "none", 0) + 1
    lines = [f"\nseries: {len(series)} backtested (" + ", ".join(f"{k} {v}" for k, v in sorted(by.items())) + ")"]
    unpublished = [f"{s.get('kind')}:{s.get('target')}" for s in series if not s.get("published")]
    if unpublished:
        lines.append(f"  {len(unpublished)} with no published candidate (no forecast is published for them): "
                     + ", ".join(unpublished))
    return lines


def _num(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _months(days: float | None) -> str:
    return "-" if days is None else f"{days / DAYS_PER_MONTH:.1f}"


def _leader(ldr: dict[str, Any] | None) -> str:
    return "-" if not ldr else str(ldr["model"])[:28]


def main() -> None:
    """Entry point of the `gapcast` console script."""
    cli(prog_name="gapcast")
