"""Reading input files with a size bound: a file (or a device such as /dev/zero, a FIFO, a file that keeps
growing) is read in chunks and refused as soon as it passes the limit, so memory never depends on how
big the input is beyond the limit.

The limit is the `GAPCAST_MAX_INPUT_BYTES` setting (default DEFAULT_MAX_INPUT_BYTES). Parsing and validating
a file within the limit keeps its records in memory (a file is checked whole before anything is stored),
which is why the limit exists: see the README's "Limits" and tests/perf/bench_input_memory.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

DEFAULT_MAX_INPUT_BYTES = 16 << 20  # real canonical files and source answers are a few MB; see the README
CHUNK_BYTES = 1 << 20


class InputTooLarge(ValueError):
    """An input past its size limit; the message is one line naming the input, the limit and the setting."""

    def __init__(self, what: str, limit: int) -> None:
        super().__init__(f"{what}: larger than {describe_size(limit)}, the most gapcast reads "
                         "(GAPCAST_MAX_INPUT_BYTES); split the file or raise the limit")
        self.what, self.limit = what, limit


def describe_size(n: int) -> str:
    """`64 MiB`, `1.5 GiB`, `512 bytes`: sizes as people read them."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            value = n / (1 << shift)
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def read_file(path: Path, limit: int = DEFAULT_MAX_INPUT_BYTES) -> bytes:
    """The bytes of `path`, at most `limit` of them. Raises InputTooLarge past the limit (a regular file
    whose size says so is refused before it is read), IsADirectoryError / OSError when it cannot be read."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > limit:  # regular files: no need to read 200 MB to know
            raise InputTooLarge(str(path), limit)
        return read_stream(fh, limit, str(path))


def read_stream(stream: BinaryIO, limit: int, what: str) -> bytes:
    """Read `stream` to its end in chunks, at most `limit` bytes (one byte more is read to tell that the
    input goes on). Raises InputTooLarge."""
    parts: list[bytes] = []
    total = 0
    while True:
        part = stream.read(min(CHUNK_BYTES, limit + 1 - total))
        if not part:
            return b"".join(parts)
        total += len(part)
        if total > limit:
            raise InputTooLarge(what, limit)
        parts.append(part)
