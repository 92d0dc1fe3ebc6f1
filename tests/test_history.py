"""Honest history: no score counts on a benchmark before the benchmark existed, and every score records
when gapcast first saw it (through the real store, on a real Redis)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import redis

from forecasts.measure.domains import Domain
from forecasts.measure.gaps import BenchmarkGaps, GapStatus, entries_by_benchmark
from forecasts.records.model import Access, Benchmark, Dataset, Model, Score, launch_month
from forecasts.storage import keys
from forecasts.storage.ingest import load_records, load_snapshot
from forecasts.storage.store import Store
from jobs.sources.catalog import entries
from tests.conftest import bench_dict, make_snapshot, model_dict

HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"
LAUNCH = date(2025, 3, 1)


def _bench(launched: date | None) -> Benchmark:
    return Benchmark("late", "Late bench", "test", "%", 0.0, 100.0, True, 1.0, 90.0, 100.0,
                     launched=launched, launch_source="arXiv:0000.00000" if launched else "")


def _dataset(launched: date | None) -> Dataset:
    """A 2023 closed model and a 2024 open model scored on a benchmark launched 2025-03, and an open
    model released after the launch."""
    data = Dataset()
    data.benchmarks["late"] = _bench(launched)
    for mid, day, access, value in (("old-closed", date(2023, 6, 1), Access.CLOSED, 80.0),
                                    ("old-open", date(2024, 6, 1), Access.OPEN, 60.0),
                                    ("new-open", date(2025, 5, 10), Access.OPEN, 70.0)):
        data.models[mid] = Model(mid, mid, "Org", day, access, None, (mid,))
        data.scores[("late", mid)] = Score(mid, "late", value)
    return data


def _gaps(launched: date | None) -> BenchmarkGaps:
    data = _dataset(launched)
    return BenchmarkGaps(data.benchmarks["late"], entries_by_benchmark(data)["late"])


# --- a benchmark cannot count before it existed -----------------------------------------------------


def test_a_2023_model_counts_only_from_the_benchmark_launch() -> None:
    bg = _gaps(LAUNCH)
    before = bg.at(date(2025, 2, 28))
    assert before.closed is None and before.open is None and before.status is GapStatus.NO_DATA
    assert bg.at(date(2024, 12, 31)).status is GapStatus.NO_DATA    # a 2024 cut-off sees nothing
    at_launch = bg.at(LAUNCH)
    assert at_launch.closed is not None and at_launch.open is not None
    assert at_launch.closed.model == "old-closed" and at_launch.open.model == "old-open"
    assert at_launch.score_gap == pytest.approx(20.0)


def test_the_series_starts_at_the_launch_month() -> None:
    points = _gaps(LAUNCH).monthly()
    assert points[0].date == date(2025, 3, 31)
    assert all(p.date >= LAUNCH for p in points)
    # without a launch date the same scores would run from the open model's 2024 release
    assert _gaps(None).monthly()[0].date == date(2024, 6, 30)


def test_leaders_keep_their_release_date_but_the_lag_runs_from_the_launch() -> None:
    p = _gaps(LAUNCH).at(date(2025, 4, 30))
    assert p.closed is not None and p.open is not None
    assert p.closed.release_date == date(2023, 6, 1)              # shown as released
    assert p.closed.effective_date == LAUNCH                      # counted from the launch
    assert p.to_dict()["closed_leader"]["release_date"] == "2023-06-01"
    # closed has been clearly ahead of 60 since it started counting, not since 2023-06-01
    assert p.lag_days == (date(2025, 4, 30) - LAUNCH).days
    assert _gaps(None).at(date(2025, 4, 30)).lag_days == (date(2025, 4, 30) - date(2023, 6, 1)).days


def test_a_model_released_after_the_launch_counts_from_its_release() -> None:
    bg = _gaps(LAUNCH)
    assert bg.at(date(2025, 5, 9)).open.model == "old-open"      # type: ignore[union-attr]
    after = bg.at(date(2025, 5, 10))
    assert after.open is not None and after.open.model == "new-open"
    assert after.open.effective_date == after.open.release_date == date(2025, 5, 10)
    assert bg.data_end == date(2025, 5, 10)


def test_entries_count_from_the_later_of_release_and_launch() -> None:
    got = {e.model: e for e in entries_by_benchmark(_dataset(LAUNCH))["late"]}
    assert got["old-closed"].effective_date == LAUNCH and got["old-closed"].release_date == date(2023, 6, 1)
    assert got["new-open"].effective_date == date(2025, 5, 10) and got["new-open"].counts_from is None


def test_the_launched_series_is_what_the_store_serves(store: Store, small_domains: dict[str, Domain]) -> None:
    raw = make_snapshot(
        [bench_dict("code-a", launched="2025-03-01", launch_source="arXiv:0000.00000")],
        [model_dict("c-2023", "2023-06-01", "closed"), model_dict("o-2024", "2024-06-01", "open"),
         model_dict("o-2025", "2025-06-10", "open")],
        [("c-2023", "code-a", 80.0), ("o-2024", "code-a", 60.0), ("o-2025", "code-a", 65.0)])
    result = load_snapshot(store, small_domains, raw, "launched snapshot")
    series = store.read_json(keys.gen_benchmark_series(result.generation, "code-a"))
    assert [p["date"] for p in series] == ["2025-03-31", "2025-04-30", "2025-05-31", "2025-06-10"]
    assert series[0]["lag_days"] == 30                            # 2025-03-01 .. 2025-03-31, not since 2023
    assert series[0]["closed_leader"]["release_date"] == "2023-06-01"
    stored = store.read_dataset(result.generation).benchmarks["code-a"]
    assert (stored.launched, stored.launch_source) == (LAUNCH, "arXiv:0000.00000")


# --- the launch field itself ------------------------------------------------------------------------


def test_benchmark_launch_round_trips_and_old_records_still_load() -> None:
    b = _bench(LAUNCH)
    d = b.to_dict()
    assert d["launched"] == "2025-03-01" and json.loads(json.dumps(d)) == d
    assert Benchmark.from_dict(d) == b
    old = {k: v for k, v in d.items() if k not in ("launched", "launch_source")}
    assert Benchmark.from_dict(old).launched is None and Benchmark.from_dict(old).launch_source == ""
    assert Benchmark.from_dict({**old, "launched": "2025-03"}).launched == LAUNCH


@pytest.mark.parametrize("bad", ["2025-3", "2025-13", "2025-03-15", "March 2025", 202503])
def test_a_malformed_launch_month_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        launch_month(bad)


def test_every_catalogue_benchmark_has_a_launch_month_and_source() -> None:
    cat = entries()
    assert len(cat) >= 90
    for e in cat:
        assert isinstance(e["launched"], date) and e["launched"].day == 1, e["id"]
        assert e["launch_source"].strip(), e["id"]
    by_id = {e["id"]: e for e in cat}
    # two evaluators of one benchmark share its own release; an evaluator's index version is its own
    assert by_id["aa-gpqa"]["launched"] == by_id["epoch-gpqa-diamond"]["launched"] == date(2023, 11, 1)
    assert by_id["epoch-eci"]["launched"] == date(2025, 10, 1)


# --- first_seen -------------------------------------------------------------------------------------


class Clock:
    """An injected UTC clock the test moves forward."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _score(store: Store, bench: str, model: str) -> Score:
    return store.read_dataset(store.require_generation()).scores[(bench, model)]


def test_first_seen_is_kept_on_unchanged_pulls_and_moves_with_a_change(
        r: redis.Redis, small_snapshot: bytes, small_domains: dict[str, Domain]) -> None:
    clock = Clock(datetime(2026, 11, 1, 9, 30, tzinfo=UTC))
    store = Store(r, retain_s=60, raw_history=3, now=clock)
    load_snapshot(store, small_domains, small_snapshot, "s")
    # the bundled-format snapshot carries no first_seen column: its scores were first seen on the
    # source file's capture date
    assert _score(store, "code-a", "closed-1").first_seen == "2026-01-01T00:00:00+00:00"

    csv = (HEADER + "NewOpen 1,OpenCo,2025-03-01,open,code-a,71,,lab blog\n").encode()
    load_records(store, small_domains, csv, "csv", "new.csv")
    first = _score(store, "code-a", "newopen-1")
    assert first.first_seen == "2026-11-01T09:30:00+00:00"

    clock.now = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)         # the same value again: unchanged
    again = load_records(store, small_domains, csv, "csv", "new.csv")
    assert again.stats.unchanged_scores == 1
    assert _score(store, "code-a", "newopen-1").first_seen == "2026-11-01T09:30:00+00:00"

    clock.now = datetime(2026, 11, 3, 11, 15, tzinfo=UTC)        # a changed value is a new observation
    changed = (HEADER + "NewOpen 1,OpenCo,2025-03-01,open,code-a,72.5,,lab blog\n").encode()
    load_records(store, small_domains, changed, "csv", "new.csv")
    now_seen = _score(store, "code-a", "newopen-1")
    assert (now_seen.value, now_seen.first_seen) == (72.5, "2026-11-03T11:15:00+00:00")
    assert _score(store, "code-a", "closed-1").first_seen == "2026-01-01T00:00:00+00:00"   # untouched


def test_reloading_a_snapshot_keeps_the_earlier_first_seen(r: redis.Redis, small_domains: dict[str, Domain]) -> None:
    clock = Clock(datetime(2026, 11, 1, 9, 30, tzinfo=UTC))
    store = Store(r, retain_s=60, raw_history=3, now=clock)
    benches = [bench_dict("code-a")]
    models = [model_dict("c", "2024-01-10", "closed"), model_dict("o", "2024-03-05", "open")]
    csv = (HEADER + "c,Org,2024-01-10,closed,code-a,50,,\n").encode()
    load_snapshot(store, small_domains, make_snapshot(benches, models, [("o", "code-a", 40.0)]), "s")
    load_records(store, small_domains, csv, "csv", "pull")          # c first seen now (2026-11-01)
    later = _snapshot_with_first_seen(benches, models, [("c", "code-a", 50.0, "2026-12-01T00:00:00+00:00"),
                                                        ("o", "code-a", 40.0, "2025-06-01T00:00:00+00:00")])
    clock.now = datetime(2026, 12, 5, tzinfo=UTC)
    load_snapshot(store, small_domains, later, "s2")
    assert _score(store, "code-a", "c").first_seen == "2026-11-01T09:30:00+00:00"   # seen earlier by gapcast
    assert _score(store, "code-a", "o").first_seen == "2025-06-01T00:00:00+00:00"   # the file knew it earlier


def _snapshot_with_first_seen(benchmarks: list[dict[str, Any]], models: list[dict[str, Any]],
                              scores: list[tuple[str, str, float, str]]) -> bytes:
    doc = json.loads(gzip.decompress(make_snapshot(benchmarks, models, [])))
    doc["score_fields"] = [*doc["score_fields"], "first_seen"]
    doc["scores"] = [[m, b, v, None, "test", seen[:10], seen] for m, b, v, seen in scores]
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


def test_a_score_stored_before_first_seen_existed_falls_back_to_its_retrieval_day() -> None:
    legacy = {"model": "m", "benchmark": "b", "value": 1.0, "stderr": None, "source": "x",
              "retrieved_at": "2025-08-14"}
    assert Score.from_dict(legacy).first_seen == "2025-08-14T00:00:00+00:00"
    assert Score.from_dict({**legacy, "retrieved_at": ""}).first_seen == ""
    kept = Score.from_dict({**legacy, "first_seen": "2025-09-01T12:00:00+00:00"})
    assert kept.first_seen == "2025-09-01T12:00:00+00:00" and Score.from_dict(kept.to_dict()) == kept
