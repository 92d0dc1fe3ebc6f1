"""What every source connector produces, and the contract it follows.

A connector fetches its source over HTTP (or reads a file), parses the payload, and returns a `Pull`:
the records it found, in the canonical vocabulary (benchmark ids from the shipped catalogue, scores in
the benchmark's unit), and the per-record problems it met. Structural failures (HTML instead of CSV, a
truncated zip, garbage JSON, a renamed column) raise `PullFailed("bad_format", ...)`: the pull fails and
nothing is stored. Reconciling model names with stored models is not the connector's job: the refresh
does it for every source alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from forecasts.records.model import Exclusion, Offer
from jobs.http import Http


@dataclass(frozen=True)
class SourceRecord:
    """One score as a source states it. `release_date` (YYYY-MM-DD) and `access` (`open`|`closed`) may be
    None when the source does not say (Arena has no dates): such a record only counts for a stored model."""

    model: str
    benchmark: str
    score: float
    organization: str = ""
    release_date: str | None = None
    access: str | None = None
    stderr: float | None = None
    source: str = ""
    as_of: str | None = None  # YYYY-MM-DD of the rating snapshot (Arena daily files), else None

    def to_canonical(self) -> dict[str, Any]:
        """The record as a canonical-format object (the keys `gapcast load` reads)."""
        out = {"model": self.model, "organization": self.organization, "release_date": self.release_date or "",
               "access": self.access or "", "benchmark": self.benchmark, "score": self.score,
               "stderr": "" if self.stderr is None else self.stderr, "source": self.source}
        return {**out, "as_of": self.as_of} if self.as_of else out


@dataclass
class Pull:
    """The outcome of one successful pull."""

    source: str
    not_modified: bool = False
    records: list[SourceRecord] = field(default_factory=list)
    rejected: list[Exclusion] = field(default_factory=list)
    payload: bytes = b""  # the raw bytes, kept in a bounded history
    validators: dict[str, str] = field(default_factory=dict)  # ETag / Last-Modified for the next pull
    info: dict[str, Any] = field(default_factory=dict)  # e.g. rate-limit headroom
    offers: dict[str, Offer] = field(default_factory=dict)  # source model name -> prices and speed (AA)


class Source(Protocol):
    """A source connector."""

    id: str

    def pull(self, http: Http, validators: dict[str, str]) -> Pull:
        """Fetch and parse; `validators` are the previous pull's (for a conditional GET).

        Raises jobs.http.PullFailed on any failure that makes the whole pull unusable.
        """
        ...
