"""Peak memory of `gapcast load FILE` against the file's size (prints a table, asserts nothing).

    .venv/bin/python tests/perf/bench_input_memory.py [--sizes-mb 1,4,16,48,200] [--limit-mb 16]

Starts a private redis-server in a temporary folder. For each size it writes a canonical CSV of that many
MB (distinct new models on one benchmark) whose *last* line has an invalid score, so the whole file is read,
parsed and validated before it is rejected, then runs `gapcast load` on it in a child process and reads the
child's peak RSS (ru_maxrss from wait4). /dev/zero is measured last. Files over GAPCAST_MAX_INPUT_BYTES
(`--limit-mb`) are refused before they are read, so their peak stays at the interpreter's baseline: memory
is flat in file size past the limit, and grows with the records kept for validation below it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from forecasts.storage.redis_server import EmbeddedRedis

BIN = Path(sys.executable).parent
HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"


def write_csv(path: Path, size_mb: float) -> int:
    """A canonical CSV of about `size_mb` MB, its last line invalid; returns its size in bytes."""
    target = int(size_mb * (1 << 20))
    with path.open("w", encoding="utf-8") as fh:
        fh.write(HEADER)
        written, i = len(HEADER), 0
        while written < target:
            line = f"perf-model-{i},PerfOrg,2024-01-01,open,epoch-gpqa-diamond,{40 + i % 50},,bench\n"
            fh.write(line)
            written += len(line)
            i += 1
        fh.write("perf-model-last,PerfOrg,2024-01-01,open,epoch-gpqa-diamond,not-a-number,,bench\n")
    return path.stat().st_size


def run_load(target: str, redis_url: str, data_dir: Path, limit_mb: int) -> tuple[int, float, float, str]:
    """(exit status, peak RSS MiB, seconds, last stderr line) of `gapcast load target`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAPCAST_")}
    env.update(GAPCAST_REDIS_URL=redis_url, GAPCAST_DATA_DIR=str(data_dir),
               GAPCAST_MAX_INPUT_BYTES=str(limit_mb << 20))
    started = time.monotonic()
    err_path = data_dir / "stderr.txt"
    with err_path.open("wb") as err:
        proc = subprocess.Popen([str(BIN / "gapcast"), "load", target], env=env, stdout=subprocess.DEVNULL,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = 0  # reaped here
    lines = [ln for ln in err_path.read_text(errors="replace").splitlines() if ln.strip()]
    return (os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.monotonic() - started,
            (lines[0] if lines else "")[:110])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes-mb", default="1,4,16,48,200")
    ap.add_argument("--limit-mb", type=int, default=16)
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes_mb.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with EmbeddedRedis(tmp / "redis") as server:
            print(f"{'input':<14} {'bytes':>12} {'exit':>4} {'peak RSS MiB':>12} {'s':>6}  first stderr line")
            for size in sizes:
                path = tmp / f"scores-{size:g}mb.csv"
                nbytes = write_csv(path, size)
                code, peak, secs, line = run_load(str(path), server.url, tmp, args.limit_mb)
                print(f"{f'{size:g} MB csv':<14} {nbytes:>12} {code:>4} {peak:>12.0f} {secs:>6.1f}  {line}")
                path.unlink()
            code, peak, secs, line = run_load("/dev/zero", server.url, tmp, args.limit_mb)
            print(f"{'/dev/zero':<14} {'endless':>12} {code:>4} {peak:>12.0f} {secs:>6.1f}  {line}")
    print(f"command: {sys.executable} tests/perf/bench_input_memory.py --sizes-mb {args.sizes_mb} "
          f"--limit-mb {args.limit_mb}")


if __name__ == "__main__":
    main()
