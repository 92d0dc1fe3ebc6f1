"""Big inputs are read in chunks and refused past GAPCAST_MAX_INPUT_BYTES in one line (issue 12, item 13).

Real parts: the real `gapcast` command in a subprocess on the test Redis, real files and devices
(/dev/zero), a real local HTTP server sending an endless body. Peak memory is the gapcast process's own
peak RSS (measured through a small wrapper, see WRAPPER), compared with a generous bound: before the fix
/dev/zero ended in MemoryError.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from forecasts.activity import subscriptions
from forecasts.activity.subscriptions import SubscriptionError
from forecasts.records.reading import DEFAULT_MAX_INPUT_BYTES, InputTooLarge, read_file
from forecasts.settings import Settings, SettingsError
from jobs.http import Http, PullFailed

BIN = Path(sys.executable).parent
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"
PEAK_RSS_BOUND_MIB = 600  # generous: the whole interpreter with pandas and prophet imported is ~200 MiB


# Linux carries a forked child's high-water RSS across exec, so a child of this (large, long-lived) test
# process would report this process's size. A small wrapper interpreter starts gapcast and reports the
# grandchild's own peak (from wait4), which starts from the wrapper's few MiB.
WRAPPER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
proc.returncode = 0
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def gapcast(args: list[str], redis_url: str, tmp: Path, **env_extra: str) -> tuple[int, str, float]:
    """Run `gapcast ARGS`; (exit status, stderr, peak RSS of the gapcast process in MiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env.update(GAPCAST_REDIS_URL=redis_url, GAPCAST_DATA_DIR=str(tmp / "data"), **env_extra)
    err_path = tmp / "stderr.txt"
    with err_path.open("wb") as err:
        out = subprocess.run([sys.executable, "-c", WRAPPER, str(BIN / "gapcast"), *args], env=env,
                             stdout=subprocess.PIPE, stderr=err, check=True, text=True)
    code, maxrss_kib = out.stdout.split()
    return int(code), err_path.read_text(errors="replace"), int(maxrss_kib) / 1024


def assert_one_line(stderr: str, needle: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], stderr[-2000:]
    assert "Traceback" not in stderr and "MemoryError" not in stderr


def test_gapcast_load_dev_zero_is_one_clear_line_with_flat_memory(redis_url: str, tmp_path: Path) -> None:
    code, err, peak = gapcast(["load", "/dev/zero"], redis_url, tmp_path)
    assert code == 1
    assert_one_line(err, "Error: /dev/zero: larger than 16 MiB, the most gapcast reads (GAPCAST_MAX_INPUT_BYTES)")
    assert peak < PEAK_RSS_BOUND_MIB, f"peak RSS {peak:.0f} MiB"


def test_a_large_generated_file_is_refused_before_it_is_read(redis_url: str, tmp_path: Path) -> None:
    big = tmp_path / "scores.csv"
    row = "Some Model,Org,2024-01-01,open,epoch-gpqa-diamond,50,,x\n"
    with big.open("w") as fh:  # 200 MB of plausible rows
        fh.write(HEADER)
        block = row * 10_000
        for _ in range(200 * (1 << 20) // len(block)):
            fh.write(block)
    r = redis.Redis.from_url(redis_url)
    before = sorted(r.keys("*"))
    code, err, peak = gapcast(["load", str(big)], redis_url, tmp_path)
    assert code == 1
    assert_one_line(err, f"{big}: larger than 16 MiB")
    assert peak < PEAK_RSS_BOUND_MIB, f"peak RSS {peak:.0f} MiB for a 200 MB file"
    assert sorted(r.keys("*")) == before  # nothing stored
    r.close()


def test_the_limit_is_a_setting(redis_url: str, tmp_path: Path) -> None:
    small = tmp_path / "scores.csv"
    small.write_text(HEADER + "Some Model,Org,2024-01-01,open,epoch-gpqa-diamond,50,,x\n" * 100)
    code, err, _ = gapcast(["load", str(small)], redis_url, tmp_path, GAPCAST_MAX_INPUT_BYTES="1024")
    assert code == 1
    assert_one_line(err, "larger than 1 KiB")
    code, err, _ = gapcast(["load", "/dev/zero"], redis_url, tmp_path, GAPCAST_MAX_INPUT_BYTES="0")
    assert code == 1 and "GAPCAST_MAX_INPUT_BYTES: invalid value '0'" in err


def test_the_canonical_feed_refuses_a_device_too(redis_url: str, tmp_path: Path) -> None:
    code, err, peak = gapcast(["ingest", "canonical", "/dev/zero"], redis_url, tmp_path)
    assert code == 1 and "pull failed" in err and "larger than 16 MiB" in err and "Traceback" not in err
    assert peak < PEAK_RSS_BOUND_MIB


def test_read_file_reads_to_the_limit_exactly(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 4096)
    assert read_file(path, 4096) == b"x" * 4096
    with pytest.raises(InputTooLarge):
        read_file(path, 4095)
    with pytest.raises(InputTooLarge):  # a device: its size says nothing, the read stops at the limit
        read_file(Path("/dev/zero"), 1 << 20)


def test_the_setting_default_and_validation() -> None:
    assert Settings.from_env({}).max_input_bytes == DEFAULT_MAX_INPUT_BYTES
    with pytest.raises(SettingsError, match="GAPCAST_MAX_INPUT_BYTES"):
        Settings.from_env({"GAPCAST_MAX_INPUT_BYTES": "lots"})


# --- a source's answer ----------------------------------------------------------------------------------


@pytest.fixture()
def endless() -> Iterator[str]:
    """A local server answering every request with a body that never ends (no length: read to close),
    until the client goes away or 1 GiB was sent (bounded)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nConnection: close\r\n\r\n")
                chunk = b"a" * 65536
                for _ in range(16384):
                    if stop.is_set():
                        break
                    conn.sendall(chunk)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/feed.csv"
    stop.set()
    thread.join(10)
    srv.close()


def test_an_endless_source_answer_is_refused_at_the_cap(endless: str) -> None:
    with pytest.raises(PullFailed) as err:
        Http(timeout_s=60, max_bytes=4 << 20).get(endless)
    assert err.value.reason == "too_large" and "larger than 4 MiB" in err.value.message


def test_a_subscriptions_file_or_a_url_file_that_is_a_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionError, match="larger than 16 MiB"):
        subscriptions.load_file(Path("/dev/zero"), allow_private=True)
    conf = tmp_path / "subs.toml"
    conf.write_text('[[subscription]]\nid = "x"\nkind = "slack"\nurl_file = "/dev/zero"\n')
    with pytest.raises(SubscriptionError, match=r"subscription\[0\]\.url_file.*larger than 64 KiB"):
        subscriptions.load_file(conf, allow_private=True)
