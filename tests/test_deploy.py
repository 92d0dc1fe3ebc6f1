"""The deployment files stay true without a Docker engine.

docker-compose.yml, the Dockerfile, .env.example and the Prometheus and Grafana files under deploy/ are
parsed and checked against the package: every GAPCAST_* name is a real setting, the commands are the
real ones, and every metric the Grafana dashboard queries is in the exposition of a real app.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client.parser import text_string_to_metric_families

from forecasts.activity import source_status
from forecasts.measure.domains import parse_domains
from forecasts.publishing import outlook
from forecasts.settings import Settings, env_names
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
GRAFANA = DEPLOY / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "gapcast.json"

GAPCAST_SERVICES = {"gapcast-init", "api", "scheduler"}
LONG_RUNNING = {"redis", "api", "scheduler", "prometheus", "grafana"}
DASHBOARD_SERVICES = {"prometheus", "grafana"}
ALERT_METRIC = "gapcast_alert_deliveries"
METRICS_DB = 11  # the exposition test's own database on the suite's Redis server


# --- helpers -------------------------------------------------------------------------------------------------

def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = load_yaml(COMPOSE)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def as_list(value: Any) -> list[str]:
    """A compose command/entrypoint (string or list) as a list of words."""
    if value is None:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def full_command(service: dict[str, Any]) -> list[str]:
    return as_list(service.get("entrypoint")) + as_list(service.get("command"))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """Each volume's container path -> its source (short syntax `source:target[:mode]` or long syntax)."""
    out = {}
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out[v["target"]] = v.get("source", "")
        else:
            source, target = v.split(":")[:2]
            out[target] = source
    return out


def interpolation_defaults(text: str) -> dict[str, str]:
    """`${NAME:-default}` in a compose file: NAME -> default."""
    return dict(re.findall(r"\$\{(\w+):-([^}]*)\}", text))


def image_tag(image: str) -> str | None:
    """The tag of `image` (registry ports and digests allowed), None when it has none."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def secret_settings() -> set[str]:
    return {"GAPCAST_" + f.name.upper() for f in fields(Settings) if f.metadata["secret"]}


def project_version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


# --- docker-compose.yml --------------------------------------------------------------------------------------

def test_services_and_the_dashboards_profile(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == GAPCAST_SERVICES | {"redis"} | DASHBOARD_SERVICES
    for name, svc in services.items():
        expected = ["dashboards"] if name in DASHBOARD_SERVICES else []
        assert (svc.get("profiles") or []) == expected, name
    scheduler = services["scheduler"]
    assert scheduler.get("deploy", {}).get("replicas", 1) == 1 and "scale" not in scheduler


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name}: no image"
        tag = image_tag(image)
        assert tag and tag != "latest" and "$" not in tag, f"{name}: image {image!r} is not pinned"
        if name in GAPCAST_SERVICES:
            assert image == f"gapcast:{project_version()}", f"{name}: the gapcast image is tagged with the version"
    assert (image_tag(services["redis"]["image"]) or "").startswith("7.")
    assert (image_tag(services["prometheus"]["image"]) or "").startswith("v")
    built = [name for name, svc in services.items() if "build" in svc]
    assert built == ["gapcast-init"], "one service builds the image the others reuse"
    assert services["gapcast-init"]["build"] in (".", {"context": "."})


def test_ports(services: dict[str, dict[str, Any]]) -> None:
    ports = {name: [str(p) for p in svc.get("ports") or []] for name, svc in services.items()}
    assert ports == {
        "redis": [], "gapcast-init": [], "scheduler": [],
        "api": ["8000:8000"],
        "prometheus": ["127.0.0.1:9090:9090"],  # no authentication: local only
        "grafana": ["127.0.0.1:3000:3000"],
    }
    from service import gunicorn_conf

    assert gunicorn_conf.bind == "0.0.0.0:8000"


def test_long_running_services_have_a_healthcheck_and_a_restart_policy(services: dict[str, dict[str, Any]]) -> None:
    for name in LONG_RUNNING:
        svc = services[name]
        test = svc.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
        assert not svc["healthcheck"].get("disable"), name
        assert svc.get("restart") in {"always", "unless-stopped", "on-failure"}, name
    init = services["gapcast-init"]
    assert init.get("restart") == "no" and "healthcheck" not in init
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_redis_persists_with_aof_on_a_named_volume(compose: dict[str, Any]) -> None:
    redis_svc = compose["services"]["redis"]
    cmd = full_command(redis_svc)
    assert cmd[0] == "redis-server"
    assert cmd[cmd.index("--appendonly") + 1] == "yes"
    source = volume_targets(redis_svc)["/data"]
    assert source in (compose.get("volumes") or {}), "/data is a named volume"


def test_init_loads_then_forecasts_and_the_others_wait_for_it(services: dict[str, dict[str, Any]]) -> None:
    script = " ".join(full_command(services["gapcast-init"]))
    assert "gapcast load" in script and "gapcast forecast" in script
    assert script.index("gapcast load") < script.index("gapcast forecast")
    for name in GAPCAST_SERVICES:
        assert environment(services[name])["GAPCAST_REDIS_URL"] == "redis://redis:6379/0", name
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
    for name in ("api", "scheduler"):
        assert services[name]["depends_on"]["gapcast-init"]["condition"] == "service_completed_successfully"
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_api_runs_under_gunicorn_with_a_fresh_multiprocess_folder(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    cmd = full_command(api)
    assert cmd[0] == "gunicorn"
    assert cmd[cmd.index("-c") + 1] == "python:service.gunicorn_conf"
    assert cmd[-1] == "service:create_app()"
    metrics_dir = environment(api)["PROMETHEUS_MULTIPROC_DIR"]
    assert metrics_dir in as_list(api.get("tmpfs")), "the multiprocess folder must be empty at each start"
    assert metrics_dir in DOCKERFILE.read_text(), "the image creates the folder for its user"


def test_scheduler_runs_gapcast_scheduler(services: dict[str, dict[str, Any]]) -> None:
    from gapcast.cli import cli

    assert full_command(services["scheduler"]) == ["gapcast", "scheduler"]
    assert "scheduler" in cli.commands


def gapcast_variables(text: str) -> set[str]:
    return set(re.findall(r"\bGAPCAST_[A-Z0-9_]*[A-Z0-9]\b", text))


def test_every_gapcast_variable_is_a_setting() -> None:
    known = set(env_names()) | {name + "_FILE" for name in secret_settings()}
    files = [COMPOSE, DOCKERFILE, ENV_EXAMPLE, *sorted(p for p in DEPLOY.rglob("*") if p.is_file())]
    for path in files:
        unknown = gapcast_variables(path.read_text(encoding="utf-8")) - known
        assert not unknown, f"{path.relative_to(ROOT)}: not gapcast settings: {sorted(unknown)}"
    host_vars = set(interpolation_defaults(COMPOSE.read_text()))
    assert not {v for v in host_vars if v.startswith("GAPCAST_")}, "host-side ${...} names must not look like settings"


def test_env_example_lists_every_setting_with_a_valid_default() -> None:
    text = ENV_EXAMPLE.read_text()
    assert set(env_names()) <= gapcast_variables(text), "every setting is named in .env.example"
    values = dict(re.findall(r"^# (GAPCAST_[A-Z0-9_]+)=(.*)$", text, re.MULTILINE))
    assert not set(values) & secret_settings(), "secrets are never given a value in .env.example"
    Settings.from_env(values)  # every example value parses


def test_secrets_come_from_files(compose: dict[str, Any]) -> None:
    services, secrets = compose["services"], compose.get("secrets") or {}
    defaults = interpolation_defaults(COMPOSE.read_text())
    secret_files = {}
    for name, spec in secrets.items():
        source = spec["file"]
        match = re.fullmatch(r"\$\{(\w+):-([^}]*)\}", source)
        path = ROOT / (defaults[match.group(1)] if match else source)
        assert path.is_file() and path.read_text().strip() == "", f"secret {name}: the default file is empty (off)"
        secret_files[f"/run/secrets/{name}"] = path
    used = set()
    for name, svc in services.items():
        env = environment(svc)
        assert not set(env) & secret_settings(), f"{name}: a secret in the environment"
        mounted = set(as_list(svc.get("secrets")))
        for key, value in env.items():
            if key.endswith("_FILE") and key.startswith("GAPCAST_"):
                assert key.removesuffix("_FILE") in secret_settings(), key
                secret = value.removeprefix("/run/secrets/")
                assert secret in mounted and secret in secrets, f"{name}: {key} names an unmounted secret"
                used.add(secret)
        if name in GAPCAST_SERVICES:
            # the service's own settings parse, with the default (empty) secret files: features off
            environ = {k: str(secret_files.get(v, v)) for k, v in env.items() if k.startswith("GAPCAST_")}
            settings = Settings.from_env(environ)
            assert settings.admin_token is None and settings.aa_api_key is None
    assert used == set(secrets), "every declared secret is used"
    assert environment(services["api"])["GAPCAST_ADMIN_TOKEN_FILE"] == "/run/secrets/gapcast_admin_token"
    assert environment(services["scheduler"])["GAPCAST_AA_API_KEY_FILE"] == "/run/secrets/gapcast_aa_api_key"


def compose_cli() -> list[str] | None:
    """A Docker Compose v2 binary, if this machine has one (it validates the file without an engine)."""
    for candidate in (Path(sys.executable).parent / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).is_file():
            return [str(candidate)]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


@pytest.mark.skipif(compose_cli() is None, reason="no docker compose binary: the file is only checked structurally")
@pytest.mark.parametrize("profile", [[], ["--profile", "dashboards"]], ids=["default", "dashboards"])
def test_docker_compose_accepts_the_file(profile: list[str]) -> None:
    cli = compose_cli()
    assert cli is not None
    env = {k: v for k, v in os.environ.items() if k not in interpolation_defaults(COMPOSE.read_text())}
    done = subprocess.run([*cli, "-f", str(COMPOSE), *profile, "config", "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr  # some versions exit 0 on schema errors


# --- Dockerfile ----------------------------------------------------------------------------------------------

def dockerfile_stages() -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """The global ARG defaults and each stage's instructions (name, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, rest = line.partition(" ")
        instr, rest = instr.upper(), rest.strip()
        if instr == "FROM":
            stages.append([])
        if not stages and instr == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args[key] = value.strip('"')
        elif stages:
            stages[-1].append((instr, rest))
    return args, stages


def test_dockerfile_base_images_are_pinned() -> None:
    args, stages = dockerfile_stages()
    for stage in stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image)
        tag = image_tag(image)
        assert tag and tag != "latest", image


def test_dockerfile_installs_the_package_offline_and_runs_as_a_user() -> None:
    _, stages = dockerfile_stages()
    final = stages[-1]
    runs = [rest for instr, rest in final if instr == "RUN"]
    assert any("pip install" in r and "--no-index" in r and re.search(r"\bgapcast\b", r) for r in runs), \
        "the runtime stage installs gapcast from local wheels only"
    users = [rest.split(":")[0] for instr, rest in final if instr == "USER"]
    assert users and users[-1] not in {"root", "0"}, "the image runs as a non-root user"
    assert json.loads(next(rest for instr, rest in final if instr == "ENTRYPOINT")) == ["gapcast"]
    assert ("EXPOSE", "8000") in final
    if len(stages) > 1:
        assert any(instr == "RUN" and "pip wheel" in rest for instr, rest in stages[0])


def test_dockerfile_copies_everything_the_package_needs() -> None:
    _, stages = dockerfile_stages()
    copied: set[str] = set()
    for stage in stages:
        for instr, rest in stage:
            if instr == "COPY" and not rest.startswith("--from"):
                copied.update(w.rstrip("/") for w in rest.split()[:-1] if not w.startswith("--"))
    for path in copied:
        assert (ROOT / path).exists(), path
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    assert "data/*" in pyproject["tool"]["setuptools"]["package-data"]["forecasts"]
    assert (ROOT / "forecasts" / "data" / "snapshot.json.gz").is_file(), "the bundled snapshot ships in the wheel"
    ignore = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()]
    if "*" in ignore:
        for path in copied:
            assert f"!{path}" in ignore or f"!{path}/" in ignore, f".dockerignore leaves {path} out of the context"


# --- Prometheus and Grafana files ----------------------------------------------------------------------------

def test_prometheus_scrapes_the_api(services: dict[str, dict[str, Any]]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert len(jobs) == len(config["scrape_configs"]), "job names are unique"
    gapcast = [j for j in jobs.values() if any("api:8000" in s.get("targets", []) for s in j.get("static_configs", []))]
    assert len(gapcast) == 1 and gapcast[0].get("metrics_path", "/metrics") == "/metrics"
    prom = services["prometheus"]
    flags = dict(a.split("=", 1) for a in as_list(prom.get("command")) if "=" in a)
    assert volume_targets(prom)[flags["--config.file"]] == "./deploy/prometheus/prometheus.yml"


def test_grafana_provisioning(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    mounts = volume_targets(grafana)
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    datasources = [load_yaml(p) for p in sorted((GRAFANA / "provisioning" / "datasources").glob("*.y*ml"))]
    assert datasources and all(d["apiVersion"] == 1 for d in datasources)
    proms = [ds for d in datasources for ds in d["datasources"] if ds["type"] == "prometheus"]
    assert len(proms) == 1 and proms[0]["url"] == "http://prometheus:9090" and proms[0]["uid"]
    providers = [load_yaml(p) for p in sorted((GRAFANA / "provisioning" / "dashboards").glob("*.y*ml"))]
    assert providers and all(d["apiVersion"] == 1 for d in providers)
    (provider,) = [p for d in providers for p in d["providers"]]
    assert provider["type"] == "file"
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    doc = json.loads(DASHBOARD.read_text())
    assert isinstance(doc, dict)
    return doc


def panel_exprs(panel: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in panel.get("targets", [])]


# Each panel the dashboard must have: its title -> fragments its PromQL must contain.
REQUIRED_PANELS = {
    "Score gap per domain": ["gapcast_domain_score_gap"],
    "Lag per domain (days)": ["gapcast_domain_lag_seconds", "/ 86400"],
    "Lag per domain now (months)": ["gapcast_domain_lag_seconds", "/ 86400 / 30.4375"],
    "P(caught up within 12 months)": ["gapcast_domain_catch_up_probability", 'within_months="12"'],
    "Median catch-up (days from now)": ["gapcast_domain_catch_up_p50_seconds", "/ 86400"],
    "Data age": ["gapcast_data_age_seconds"],
    "Source consecutive failures": ["gapcast_source_consecutive_failures"],
    "Time since last successful pull": ["time() - gapcast_source_last_success_timestamp_seconds"],
    "Request rate by endpoint": ["by (endpoint)", "rate(gapcast_http_requests_total["],
    "p99 latency by endpoint": ["histogram_quantile(0.99,", "by (le, endpoint)",
                                "gapcast_http_request_duration_seconds_bucket"],
    "Alert delivery failures": [ALERT_METRIC, "dead"],
}


def test_dashboard_structure(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    (datasource,) = [ds for f in sorted((GRAFANA / "provisioning" / "datasources").glob("*.y*ml"))
                     for ds in load_yaml(f)["datasources"]]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids are unique"
    for p in panels:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["h"] > 0 and pos["x"] + pos["w"] <= 24, p["title"]
        assert p["type"] in {"timeseries", "stat", "bargauge", "gauge", "table"}, p["title"]
        assert p["datasource"]["uid"] == datasource["uid"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(set(refs)) == len(refs), p["title"]
        assert all(t["datasource"]["uid"] == datasource["uid"] and t["expr"].strip() for t in p["targets"])
    by_title = {p["title"]: p for p in panels}
    for title, fragments in REQUIRED_PANELS.items():
        assert title in by_title, f"missing panel {title!r}"
        text = " ".join(panel_exprs(by_title[title]))
        for fragment in fragments:
            assert fragment in text, f"{title}: {fragment!r} not in {text!r}"


PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                   "offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords, labels or Grafana variables)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if m.group().lower() in PROMQL_KEYWORDS or re.match(r"\s*\(", text[m.end():]):
            continue
        names.add(m.group())
    return names


def test_promql_metric_names() -> None:
    expr = 'histogram_quantile(0.99, sum by (le, endpoint) (rate(x_bucket{a=~"b|c"}[$__rate_interval])))'
    assert promql_metric_names(expr) == {"x_bucket"}
    assert promql_metric_names("time() - a_seconds offset 5m") == {"a_seconds"}
    assert promql_metric_names('a{within_months="12", d=~"$domain"} / 30.4375 + on (d) b') == {"a", "b"}


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, metric name) for every metric the dashboard's panels and variables query."""
    out = [(p["title"], name) for p in dashboard["panels"] for expr in panel_exprs(p)
           for name in promql_metric_names(expr)]
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query", "") if isinstance(query, dict) else str(query or "")
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*", query)
        for name in promql_metric_names(m.group(1)) if m else set():
            out.append((f"variable {var['name']}", name))
    return out


def exposed_names(text: str) -> tuple[set[str], dict[str, set[str]]]:
    """The series names a scrape of this exposition gives Prometheus (also for families with no samples yet),
    and the label names seen per series name."""
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "summary": ["", "_count", "_sum"]}
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in suffixes.get(family.type, [""]))
        for sample in family.samples:
            names.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return names, labels


@pytest.fixture(scope="module")
def exposition(redis_server: Any) -> Iterator[str]:
    """/metrics of a real app over the small snapshot, with forecasts, a source status and some traffic."""
    client = redis.Redis.from_url(f"{redis_server.url}?db={METRICS_DB}")
    client.flushdb()
    store = Store(client, now=lambda: FIXED_NOW)
    gen = load_snapshot(store, parse_domains(SMALL_DOMAINS, "test"), small_snapshot_bytes(), "test").generation
    outlook.compute(store, gen, outlook.pending(store, gen), domains=parse_domains(SMALL_DOMAINS, "test"))
    source_status.record_success(store, "epoch-hub", accepted=9, rejected=1, validators={}, not_modified=False,
                                 generation=gen)
    api = create_app(Settings(redis_url="unused://"), client=client, config={"TESTING": True}).test_client()
    assert api.get("/v1/domains").status_code == 200
    yield api.get("/metrics").get_data(as_text=True)
    client.flushdb()
    client.close()


def test_every_dashboard_metric_is_exported(dashboard: dict[str, Any], exposition: str) -> None:
    names, labels = exposed_names(exposition)
    queried = dashboard_queries(dashboard)
    assert queried and all(name.startswith("gapcast_") for _, name in queried)
    missing = sorted({f"{where}: {name}" for where, name in queried if name not in names and name != ALERT_METRIC})
    assert not missing, f"the dashboard queries metrics the app does not export: {missing}"
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            seen = set().union(*(labels.get(n, set()) for n in promql_metric_names(target["expr"])))
            used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            assert not seen or used <= seen, f"{panel['title']}: legend labels {used - seen} not on its metrics"
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    # declared even when no probability is known yet (the small data has too little history for a base rate)
    assert "gapcast_domain_catch_up_probability" in families
    for sample in families["gapcast_domain_catch_up_probability"].samples:
        assert set(sample.labels) == {"domain", "within_months", "basis"}
        assert sample.labels["basis"] in {"model", "base_rate"}


def test_the_alert_delivery_metric_is_exported(exposition: str) -> None:
    names, _ = exposed_names(exposition)
    assert ALERT_METRIC in names
    statuses = {s.labels["status"] for f in text_string_to_metric_families(exposition) if f.name == ALERT_METRIC
                for s in f.samples}
    assert statuses == {"pending", "delivered", "dead"}
