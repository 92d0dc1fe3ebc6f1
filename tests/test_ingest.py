"""Loading data into a real Redis: generations, atomic switch, validation that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from forecasts.measure.domains import Domain
from forecasts.records.canonical import InvalidInput
from forecasts.storage import keys
from forecasts.storage.ingest import load_records, load_snapshot, rebuild
from forecasts.storage.store import ConcurrentRefresh, Store, generation_seq
from tests.conftest import bench_dict, make_snapshot, model_dict

HEADER = "model,organization,release_date,access,benchmark,score,stderr,source\n"


def dump(r: redis.Redis) -> dict[bytes, Any]:
    """Every key with its type and value (TTL-free): the store's full state."""
    out: dict[bytes, Any] = {}
    for key in sorted(r.keys("*")):
        t = r.type(key)
        if t == b"string":
            out[key] = r.get(key)
        elif t == b"hash":
            out[key] = r.hgetall(key)
        elif t == b"set":
            out[key] = r.smembers(key)
        elif t == b"zset":
            out[key] = r.zrange(key, 0, -1, withscores=True)
        elif t == b"list":
            out[key] = r.lrange(key, 0, -1)
    return out


def summary_rows(store: Store) -> list[dict[str, Any]]:
    return list(store.read_json(keys.gen_summary(store.require_generation())))


def summary(store: Store) -> dict[str, dict[str, Any]]:
    return {row["domain"]: row for row in summary_rows(store)}


def test_snapshot_load_writes_a_generation_with_gaps(store: Store, small_snapshot: bytes,
                                                      small_domains: dict[str, Domain]) -> None:
    result = load_snapshot(store, small_domains, small_snapshot, "test snapshot")
    assert store.current_generation() == result.generation
    assert result.stats.new_scores == 9 and result.models == {"open": 2, "closed": 2}
    assert result.excluded_by_reason == {"unmatched": 1}
    rows = summary(store)
    coding, math = rows["coding"], rows["math"]
    assert coding["status"] == "open_behind" and coding["as_of"] == "2025-01-20"
    # code-a: 70 - 60 = 10 % (weight 2); code-elo: 20 Elo of 400 = 5 % (weight 1) -> 25/3
    assert coding["score_gap"] == pytest.approx(25 / 3, abs=1e-3)
    assert coding["closed_leader"]["model"] == "closed-2" and coding["open_leader"]["model"] == "open-2"
    assert coding["lag_days"] > 0
    assert math["status"] == "open_leads" and math["lag_days"] == 0
    series = store.read_json(keys.gen_domain_series(result.generation, "coding"))
    assert series[0]["date"] == "2024-03-31"  # first month both classes have a code-a score
    assert store.raw_payloads("snapshot")[0][1] == small_snapshot


def test_loading_the_same_data_twice_writes_no_new_generation(store: Store, small_snapshot: bytes,
                                                               small_domains: dict[str, Domain]) -> None:
    first = load_snapshot(store, small_domains, small_snapshot, "s")
    second = load_snapshot(store, small_domains, small_snapshot, "s")
    assert second.stats.unchanged_scores == 9 and second.stats.new_scores == 0
    assert not second.changed and second.generation == first.generation == store.current_generation()


def test_a_change_switches_generation_and_the_old_one_expires(store: Store, r: redis.Redis, small_snapshot: bytes,
                                                              small_domains: dict[str, Domain]) -> None:
    first = load_snapshot(store, small_domains, small_snapshot, "s")
    second = load_records(store, small_domains, (HEADER + "open-1,OpenCo,2024-03-05,open,math-a,31,,\n").encode(),
                          "csv", "x.csv")
    assert generation_seq(second.generation) > generation_seq(first.generation) == 1
    # The superseded generation stays readable for a while, then expires; the current one is permanent.
    assert 0 < r.ttl(keys.gen_summary(first.generation)) <= 60
    assert r.ttl(keys.gen_summary(second.generation)) == -1


def test_a_refresh_recomputes_only_what_the_new_scores_touch(store: Store, small_snapshot: bytes,
                                                              small_domains: dict[str, Domain]) -> None:
    first = load_snapshot(store, small_domains, small_snapshot, "s")
    csv = HEADER + "open-1,OpenCo,2024-03-05,open,math-a,31,,\n"
    second = load_records(store, small_domains, csv.encode(), "csv", "x.csv")
    assert second.touched_benchmarks == ["math-a"] and second.touched_domains == ["math"]
    g1, g2 = first.generation, second.generation
    for key in (keys.gen_domain_series, keys.gen_benchmark_series):
        assert store.read_json(key(g2, "coding" if key is keys.gen_domain_series else "code-a")) == \
            store.read_json(key(g1, "coding" if key is keys.gen_domain_series else "code-a"))
    assert store.read_json(keys.gen_benchmark_series(g2, "math-a")) != store.read_json(
        keys.gen_benchmark_series(g1, "math-a"))
    data = store.read_dataset(g2)
    assert data.scores[("math-a", "open-1")].value == 31.0 and len(data.scores) == 9
    assert [r["domain"] for r in summary_rows(store)] == ["coding", "math"]


def test_canonical_csv_adds_a_model_and_moves_the_gap(store: Store, small_snapshot: bytes,
                                                      small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    csv = HEADER + "NewOpen 1,OpenCo,2025-03-01,open,code-a,71,0.5,lab blog\n" \
                   "Open One (Mar '24),OpenCo,2024-03-05,open,code-elo,1200,,\n"
    result = load_records(store, small_domains, csv.encode(), "csv", "new.csv")
    assert result.stats.new_scores == 2 and len(result.stats.new_models) == 1
    coding = summary(store)["coding"]
    assert coding["open_leader"]["model"] == result.stats.new_models[0]
    assert coding["as_of"] == "2025-03-01"
    data = store.read_dataset(store.require_generation())
    assert data.scores[("code-elo", "open-1")].value == 1200.0  # resolved by alias
    assert store.raw_payloads("canonical")[0][1] == csv.encode()


BAD_FILES: list[tuple[str, str, str]] = [
    ("missing column", "model,organization,release_date,access,benchmark\nx,o,2024-01-01,open,code-a\n",
     "missing column(s) score"),
    ("renamed column", "model,organization,release_date,access,benchmark,scor\nx,o,2024-01-01,open,code-a,1\n",
     "unknown column(s) 'scor'"),
    ("bad date", HEADER + "x,o,2024-13-01,open,code-a,50,,\n", "line 2, field 'release_date'"),
    ("future date", HEADER + "x,o,2027-01-01,open,code-a,50,,\n", "is in the future"),
    ("out of range", HEADER + "x,o,2024-01-01,open,code-a,150,,\n", "line 2, field 'score': 150 is outside"),
    ("nan", HEADER + "x,o,2024-01-01,open,code-a,nan,,\n", "field 'score': 'nan' is not a finite number"),
    ("not a number", HEADER + "x,o,2024-01-01,open,code-a,lots,,\n", "field 'score': 'lots' is not a number"),
    ("unknown access", HEADER + "x,o,2024-01-01,public,code-a,50,,\n", "field 'access'"),
    ("unknown benchmark", HEADER + "x,o,2024-01-01,open,mmlu-x,50,,\n", "unknown benchmark 'mmlu-x'"),
    ("duplicate rows", HEADER + "x,o,2024-01-01,open,code-a,50,,\n" * 2, "line 3: duplicate score"),
    ("conflicting stored date", HEADER + "closed-1,o,2024-01-11,closed,code-a,50,,\n",
     "conflicts with the stored release date"),
    ("conflicting access", HEADER + "open-1,o,2024-03-05,closed,math-a,50,,\n", "conflicts with the stored access"),
    ("two dates in one file", HEADER + "y,o,2024-01-01,open,code-a,50,,\ny,o,2024-02-01,open,math-a,50,,\n",
     "line 3, field 'release_date'"),
    ("negative stderr", HEADER + "x,o,2024-01-01,open,code-a,50,-1,\n", "field 'stderr'"),
    ("ragged row", HEADER + "x,o,2024-01-01,open,code-a\n", "line 2: has 5 fields"),
    ("empty", "", "the file is empty"),
    ("header only", HEADER, "no data rows"),
]


@pytest.mark.parametrize(("label", "content", "fragment"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_file_is_rejected_and_changes_nothing(store: Store, r: redis.Redis, small_snapshot: bytes,
                                                  small_domains: dict[str, Domain], label: str,
                                                  content: str, fragment: str) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    before = dump(r)
    with pytest.raises(InvalidInput) as info:
        load_records(store, small_domains, content.encode(), "csv", "bad.csv")
    assert any(fragment in str(p) for p in info.value.problems), [str(p) for p in info.value.problems]
    after = dump(r)
    # The generation counter may have moved on; nothing else may change.
    before.pop(keys.generation_seq().encode(), None)
    after.pop(keys.generation_seq().encode(), None)
    assert after == before


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    (b"\xff\xfe garbage \xff", "not UTF-8"),
    (b'{"model": "x"}', "expected a JSON list"),
    (b'[{"model": "x", "organization": "o", "release_date": "2024-01-01", "access": "open", '
     b'"benchmark": "code-a", "score": true}]', "record 1, field 'score'"),
    (b"[1, 2", "invalid JSON"),
])
def test_bad_json_or_binary_is_rejected(store: Store, small_snapshot: bytes, small_domains: dict[str, Domain],
                                        content: bytes, fragment: str) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    gen = store.current_generation()
    with pytest.raises(InvalidInput) as info:
        load_records(store, small_domains, content, None, "bad")
    assert fragment in str(info.value.problems[0])
    assert store.current_generation() == gen


def test_json_records_load_like_csv(store: Store, small_snapshot: bytes, small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    body = (b'[{"model": "closed-2", "organization": "ClosedCo", "release_date": "2024-09-01", '
            b'"access": "closed", "benchmark": "math-a", "score": 80, "stderr": 1.5}]')
    result = load_records(store, small_domains, body, None, "body.json")
    assert result.stats.new_scores == 1
    assert summary(store)["math"]["status"] == "open_behind"


def test_a_reader_never_sees_a_half_written_generation(store: Store, r: redis.Redis, small_snapshot: bytes,
                                                       small_domains: dict[str, Domain]) -> None:
    first = load_snapshot(store, small_domains, small_snapshot, "s")
    writer = store.begin(store.current_generation())
    writer.put_json(keys.gen_summary(writer.gen), [{"domain": "half"}])
    writer._pipe.execute()  # written but not committed, as if the refresh died here
    assert store.current_generation() == first.generation
    assert r.ttl(keys.gen_summary(writer.gen)) > 0  # the orphan expires on its own


def test_commit_refuses_when_another_refresh_switched_first(store: Store, small_snapshot: bytes,
                                                            small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    slow = store.begin(store.current_generation())
    load_records(store, small_domains, (HEADER + "open-1,OpenCo,2024-03-05,open,math-a,31,,\n").encode(),
                 "csv", "x.csv")  # a concurrent refresh commits meanwhile
    with pytest.raises(ConcurrentRefresh):
        slow.commit({"origin": "slow"})


def test_rebuild_recomputes_with_new_domains(store: Store, small_snapshot: bytes,
                                             small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    only_math = {"math": small_domains["math"]}
    rebuild(store, only_math)
    assert list(summary(store)) == ["math"]


def test_raw_history_is_capped_and_unchanged_loads_add_nothing(store: Store, small_snapshot: bytes,
                                                                small_domains: dict[str, Domain]) -> None:
    load_snapshot(store, small_domains, small_snapshot, "s")
    for score in range(30, 35):
        load_records(store, small_domains, (HEADER + f"open-1,OpenCo,2024-03-05,open,math-a,{score},,\n").encode(),
                     "csv", f"{score}.csv")
    load_records(store, small_domains, (HEADER + "open-1,OpenCo,2024-03-05,open,math-a,34,,\n").encode(),
                 "csv", "again.csv")  # nothing new: no generation, no raw payload
    kept = store.raw_payloads("canonical")
    assert len(kept) == 3 and kept[0][0]["origin"] == "34.csv"


def test_reloading_a_snapshot_keeps_a_score_observed_after_it(store: Store, small_snapshot: bytes,
                                                              small_domains: dict[str, Domain]) -> None:
    """A snapshot is a dated capture: reloading it must not turn back a score a later push (or pull) changed,
    while a snapshot captured after the stored value replaces it (the newer observation wins)."""
    load_snapshot(store, small_domains, small_snapshot, "bundled")
    push = (b'[{"model": "open-2", "organization": "OpenCo", "release_date": "2025-01-20", "access": "open", '
            b'"benchmark": "code-a", "score": 66.5, "source": "lab correction"}]')
    load_records(store, small_domains, push, "json", "push", source="releases")  # first seen at FIXED_NOW

    again = load_snapshot(store, small_domains, small_snapshot, "bundled, reloaded")
    kept = store.read_dataset(store.require_generation()).scores[("code-a", "open-2")]
    assert (kept.value, kept.source) == (66.5, "lab correction")
    assert not again.changed, "the reload rewrote the pushed score"

    newer = make_snapshot(  # the same data captured after the push: its value is the newer observation
        [bench_dict("code-a")], [model_dict("open-2", "2025-01-20", "open", "OpenCo")],
        [("open-2", "code-a", 61.0)], [], retrieved_at="2026-12-01")
    load_snapshot(store, small_domains, newer, "newer capture")
    assert store.read_dataset(store.require_generation()).scores[("code-a", "open-2")].value == 61.0
