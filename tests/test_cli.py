"""The `gapcast` command against a real Redis: load, gaps, benchmarks, up, and bad input."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gapcast.cli import cli

Invoke = Callable[..., Result]


@pytest.fixture()
def invoke(redis_url: str, tmp_path: Path) -> Invoke:
    """Run a gapcast command in-process against the test Redis."""
    env = {"GAPCAST_REDIS_URL": redis_url, "GAPCAST_DATA_DIR": str(tmp_path / "data")}

    def run(*args: str, extra_env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env={**env, **(extra_env or {})}, catch_exceptions=False)
    return run


@pytest.fixture(scope="module")
def bundled_gaps(tmp_path_factory: pytest.TempPathFactory, redis_server: Any) -> list[dict[str, Any]]:
    """`gapcast load` then `gapcast gaps --json` on the bundled snapshot (db 5 of the test server)."""
    url = redis_server.url + "?db=5"
    env = {"GAPCAST_REDIS_URL": url, "GAPCAST_DATA_DIR": str(tmp_path_factory.mktemp("d"))}
    runner = CliRunner()
    loaded = runner.invoke(cli, ["load"], env=env, catch_exceptions=False)
    assert loaded.exit_code == 0, loaded.output
    out = runner.invoke(cli, ["gaps", "--json"], env=env, catch_exceptions=False)
    assert out.exit_code == 0, out.output
    import redis
    redis.Redis.from_url(url).flushdb()
    return list(json.loads(out.output))


def test_bundled_data_gives_gaps_for_every_domain(bundled_gaps: list[dict[str, Any]]) -> None:
    assert len(bundled_gaps) >= 10
    complete = [r for r in bundled_gaps if r["closed_leader"] and r["open_leader"]
                and r["score_gap"] is not None and r["lag_days"] is not None]
    assert len(complete) >= 8, [r["domain"] for r in bundled_gaps if r not in complete]
    for row in bundled_gaps:
        assert set(row) >= {"domain", "as_of", "score_gap", "unit", "lag_days", "status", "closed_leader",
                            "open_leader", "benchmarks"}
        assert row["status"] in {"open_behind", "caught_up", "open_leads", "no_data"}
    for row in complete:
        assert set(row["closed_leader"]) >= {"model", "score", "release_date"}
        assert row["as_of"] >= "2025-01-01"


def test_load_prints_accepted_and_rejected_counts_and_writes_a_report(invoke: Invoke, tmp_path: Path) -> None:
    report = tmp_path / "excluded.csv"
    result = invoke("load", "--report", str(report))
    assert result.exit_code == 0, result.output
    assert "accepted:" in result.output and "rejected:" in result.output
    lines = report.read_text().splitlines()
    assert lines[0] == "kind,source,record,name,reason,detail,id,rule,variant" and len(lines) > 1
    kinds = {row["kind"] for row in csv.DictReader(report.open())}
    assert kinds == {"excluded", "merged"}          # excluded records and every merge the matcher made


def test_a_bad_file_exits_1_names_rows_and_fields_and_changes_nothing(invoke: Invoke, data_file: Any) -> None:
    assert invoke("load").exit_code == 0
    before = invoke("gaps", "--json").output
    bad = data_file("bad.csv", "model,organization,release_date,access,benchmark,score\n"
                               "m1,Org,2025-02-30,open,epoch-gpqa-diamond,50\n"
                               "m2,Org,2025-02-01,opn,epoch-gpqa-diamond,50\n"
                               "m3,Org,2025-02-01,open,epoch-gpqa-diamond,NaN\n")
    result = invoke("load", str(bad))
    assert result.exit_code == 1
    assert "bad.csv: line 2, field 'release_date'" in result.output
    assert "line 3, field 'access'" in result.output
    assert "line 4, field 'score'" in result.output
    assert "nothing was stored" in result.output
    assert invoke("gaps", "--json").output == before


def test_gaps_before_any_load_is_a_clear_error(invoke: Invoke) -> None:
    result = invoke("gaps")
    assert result.exit_code == 1 and "no data loaded yet" in result.output


def test_gaps_table_is_readable(invoke: Invoke) -> None:
    invoke("load")
    table = invoke("gaps").output.splitlines()
    assert table[0].split()[:2] == ["domain", "status"]
    assert any(line.startswith("coding") for line in table)


def test_bad_setting_is_one_line(invoke: Invoke) -> None:
    result = invoke("gaps", extra_env={"GAPCAST_RAW_HISTORY": "lots"})
    assert result.exit_code == 1
    assert result.output.strip() == \
        "Error: GAPCAST_RAW_HISTORY: invalid value 'lots': expected a whole number of at least 1"


def test_unknown_setting_is_rejected(invoke: Invoke) -> None:
    result = invoke("gaps", extra_env={"GAPCAST_REDIS_ULR": "redis://x"})
    assert result.exit_code == 1 and "GAPCAST_REDIS_ULR: unknown setting" in result.output


def test_unreachable_redis_is_a_clear_error_with_no_password(invoke: Invoke) -> None:
    result = invoke("gaps", extra_env={"GAPCAST_REDIS_URL": "redis://user:s3cret@127.0.0.1:1/0",
                                       "GAPCAST_REDIS_SOCKET_TIMEOUT_S": "0.5"})
    assert result.exit_code == 1 and "is unavailable" in result.output
    assert "s3cret" not in result.output


def _gapcast(args: list[str], data_dir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env["GAPCAST_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "gapcast", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _servers_for(data_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if ("redis-server" in cmd or "valkey-server" in cmd) and cwd == str(data_dir):
            pids.append(int(proc.name))
    return pids


def test_embedded_redis_persists_between_commands_and_leaves_no_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "gapcast-data"
    loaded = _gapcast(["load"], data_dir)
    assert loaded.returncode == 0, loaded.stderr
    assert not _servers_for(data_dir.resolve())
    again = _gapcast(["gaps", "--json"], data_dir)
    assert again.returncode == 0, again.stderr
    assert len(json.loads(again.stdout)) >= 10
    assert not _servers_for(data_dir.resolve())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[str], timeout_s: float = 240) -> None:
    """Wait for `url` to answer 200. The deadline is generous on purpose: what is tested is what `up` does,
    not how fast this (possibly loaded) machine starts it (tests/perf/bench_first_start.py measures that)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready in {timeout_s} s")


def _collect_lines(stream: Any) -> tuple[list[str], threading.Thread]:
    """Read `stream` line by line in a thread; the list fills as the process writes."""
    lines: list[str] = []

    def pump() -> None:
        for line in iter(stream.readline, ""):
            lines.append(line.rstrip("\n"))
    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    return lines, reader


def test_up_loads_on_first_start_serves_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "up-data", _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env.update({"GAPCAST_DATA_DIR": str(data_dir), "GAPCAST_EPOCH_URL": "", "GAPCAST_LMARENA_URL": ""})
    proc = subprocess.Popen([sys.executable, "-m", "gapcast", "up", "--port", str(port), "--workers", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, reader = _collect_lines(proc.stdout)
    errors, err_reader = _collect_lines(proc.stderr)
    parts = ("[api] ", "[scheduler] ", "[deliver] ")
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/domains", timeout=5) as resp:
            assert len(json.loads(resp.read())["domains"]) >= 10
        # the whole product, one prefixed stream: every part says it runs (a part signalled while still
        # importing would die silently, so Ctrl-C comes only once each has started, as a user would see)
        deadline = time.monotonic() + 120
        while not all(any(line.startswith(p) for line in list(lines)) for p in parts):
            assert time.monotonic() < deadline and proc.poll() is None, lines
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=5)
    err_reader.join(timeout=5)
    assert lines[0].startswith("redis: ") and "embedded" in lines[0]  # which Redis runs, first
    out = "\n".join(lines)
    assert "first start: loading the bundled snapshot" in out
    assert f"http://127.0.0.1:{port}/" in out
    assert "[deliver] deliver: alerts every" in out, out
    assert "[scheduler] scheduler stopped" in out, out
    assert lines[-1] == "gapcast stopped"
    assert proc.returncode == 0, errors
    assert not _servers_for(data_dir.resolve())


def test_commands_attach_to_the_server_a_running_process_holds(tmp_path: Path) -> None:
    data_dir = tmp_path / "held"
    holder_code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from forecasts.storage.redis_server import EmbeddedRedis\n"
        "s = EmbeddedRedis(Path(sys.argv[1])); s.start(); print('ready', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", holder_code, str(data_dir)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        servers = _servers_for(data_dir.resolve())
        assert len(servers) == 1
        assert _gapcast(["load"], data_dir).returncode == 0
        assert _servers_for(data_dir.resolve()) == servers  # the same server, still running
    finally:
        holder.send_signal(signal.SIGTERM)
        holder.wait(timeout=10)


def test_help_is_shown_before_settings_are_checked(invoke: Invoke) -> None:
    result = invoke("load", "--help", extra_env={"GAPCAST_FOO": "1"})
    assert result.exit_code == 0 and "load [OPTIONS] [PATH]" in result.output
    assert "GAPCAST_FOO: unknown setting" in invoke("load", extra_env={"GAPCAST_FOO": "1"}).output


def test_alerts_list_says_when_there_are_no_subscriptions(invoke: Invoke) -> None:
    result = invoke("alerts", "list")
    assert result.exit_code == 0 and result.output.startswith("no subscriptions")
    assert json.loads(invoke("alerts", "list", "--json").output) == []


def test_backtest_report_names_series_with_no_published_candidate() -> None:
    from gapcast.cli import render_backtest_report

    doc = {"headline": {"benchmark_lag_days_mae_6_vs_rw": None},
           "calibration": [{"kind": "benchmark", "metric": "lag_days", "horizon_months": 6, "coverage_80": 0.709,
                            "n": 220, "cutoffs": 19, "ci_90": [0.59, 0.83]}],
           "catch_up": [{"kind": "domain", "within_months": 6, "n": 3, "base_rate": None, "auc": None,
                         "brier": None, "brier_base_rate": None, "share_from_model": None}], "retake": [],
           "selection": {"rule": "r", "unit_classes": {"log": {"chosen_by_rule": None, "published": None,
                                                               "candidates": {}}}},
           "series": [{"kind": "benchmark", "target": "b1", "published": "chase"},
                      {"kind": "benchmark", "target": "b2", "published": None}]}
    text = render_backtest_report(doc)
    assert "benchmark  lag_days   all      6     0.709       0.59-0.83    220" in text
    assert "log: rule picks none (no candidate could be scored), published none" in text
    assert "series: 2 backtested (chase 1, none 1)" in text
    assert "1 with no published candidate (no forecast is published for them): benchmark:b2" in text


def test_ingest_summary_names_each_changed_domain_before_and_after() -> None:
    from gapcast.cli import domain_changes

    before = [{"domain": "coding", "status": "open_behind", "score_gap": 10.5, "lag_days": 30.44 * 2}]
    after = [{"domain": "coding", "status": "caught_up", "score_gap": 0.4, "lag_days": 0.0},
             {"domain": "math", "status": "open_behind", "score_gap": 3.0, "lag_days": None}]
    assert domain_changes(before, after, ["coding", "math"]) == [
        "coding: open_behind -> caught_up, gap 10.5 -> 0.4 % of scale, lag 2.0 -> 0.0 months",
        "math: - -> open_behind, gap - -> 3.0 % of scale, lag - -> - months"]


def test_up_and_api_refuse_a_port_in_use_with_one_line_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        for command in (["up", "--no-scheduler"], ["api"]):
            result = CliRunner().invoke(cli, [*command, "--port", str(port)],
                                        env={"GAPCAST_DATA_DIR": str(tmp_path / "d")})
            assert result.exit_code == 1, result.output
            assert f"cannot listen on 127.0.0.1:{port}" in result.output and "Traceback" not in result.output
            assert not (tmp_path / "d").exists()  # nothing started: no Redis, no data folder


def test_backtest_names_the_extra_a_slow_candidate_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecasts.engine import candidates

    monkeypatch.setitem(candidates.OPTIONAL_MODULES, "ets", "statsforecast_not_installed_here")
    result = CliRunner().invoke(cli, ["backtest", "--candidates", "ets"])
    assert result.exit_code == 1, result.output
    assert "ets needs statsforecast_not_installed_here: pip install -e '.[research]'" in result.output
    assert "Traceback" not in result.output
