"""LMArena as one continuous, contemporaneous series per category (issue 11).

The published points are measured on the bundled snapshot (built by scripts/build_snapshot.py from the
rating history, every arena.ai daily file included): the AI Index's Arena figures (closed lead >100 Elo,
8.0 % of score, in Jan 2024; 1.70 % in Feb 2025), the +22 Elo of the Arena's own history around DeepSeek-R1,
and arena.ai's +30 of spring 2026. `python scripts/arena_points.py` prints the same points.

Then the rules of forecasts/measure/ratings.py on small hand-made histories, and a live daily pull over real HTTP
(a recorded arena.ai payload, served locally) that extends the same benchmark id.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import date
from functools import cache
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from forecasts.measure.compute import benchmark_gaps
from forecasts.measure.domains import parse_domains
from forecasts.measure.gaps import BenchmarkGaps, Entry, GapStatus
from forecasts.measure.ratings import MAX_CARRY_DAYS, RatingHistory, extend_history
from forecasts.records.model import Access, Benchmark, Dataset, Score
from forecasts.records.snapshot import bundled_bytes, parse_snapshot
from forecasts.storage import keys
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from jobs.http import Http
from jobs.refresh import run_pull
from jobs.sources.lmarena import Z95, LMArena

TEXT = "arena-text-overall"
DAILY = Path(__file__).parent / "fixtures" / "lmarena" / "daily-text.json"


@cache
def bundled() -> Dataset:
    return parse_snapshot(bundled_bytes()).data


@cache
def text_gaps() -> BenchmarkGaps:
    return benchmark_gaps(bundled(), {TEXT})[TEXT]


def point(day: str) -> tuple[str, str, float]:
    p = text_gaps().at(date.fromisoformat(day))
    assert p.closed is not None and p.open is not None and p.score_gap is not None
    return p.closed.model, p.open.model, p.score_gap


def known_as(model_id: str) -> set[str]:
    """A model's id and aliases, lower-case: tests name models by their Arena key, whatever the canonical id."""
    m = bundled().models[model_id]
    return {a.lower() for a in (m.id, *m.aliases)}


# --- the published points, from the bundled data --------------------------------------------------------


def test_jan_2024_proprietary_lead_over_100_elo_about_8_percent() -> None:
    closed, open_, gap = point("2024-01-31")
    score = text_gaps().at(date(2024, 1, 31)).closed.score  # type: ignore[union-attr]
    assert gap > 100  # AI Index 2025: "over 100 Elo" / 8.0 % of the leader's score
    assert abs(gap - 0.080 * score) <= 15
    assert "gpt-4-turbo" in known_as(closed) and "wizardlm-70b" in known_as(open_)  # the 2024-01-25 board


def test_feb_2025_gap_about_1_7_percent() -> None:
    closed, open_, gap = point("2025-02-15")  # the last snapshot before Grok 3 joined the board (2025-02-17)
    score = text_gaps().at(date(2025, 2, 15)).closed.score  # type: ignore[union-attr]
    assert abs(gap - 0.017 * score) <= 15 and abs(gap - 23) <= 15
    assert "gemini-2.0-flash-thinking-exp-01-21" in known_as(closed) and "deepseek-r1" in known_as(open_)


def test_around_deepseek_r1_closed_leads_by_about_22_not_open() -> None:
    """The issue's bug: with one 2025-12 snapshot gapcast showed open *leading* here, because the closed
    leaders of the time (deprecated before 2025-12) were missing."""
    for day in ("2025-01-24", "2025-01-28", "2025-01-31", "2025-02-05", "2025-02-10", "2025-02-16"):
        p = text_gaps().at(date.fromisoformat(day))
        assert p.status is GapStatus.OPEN_BEHIND, day
        assert p.open is not None and "deepseek-r1" in known_as(p.open.model), day
        assert p.score_gap is not None and abs(p.score_gap - 22) <= 8, (day, p.score_gap)
    assert "gemini-exp-1206" in known_as(point("2024-12-31")[0])  # a deprecated closed leader, at its time


def test_spring_2026_about_30_and_the_series_runs_to_the_newest_daily_file() -> None:
    series = text_gaps().monthly()
    last = series[-1]
    assert last.date == date(2026, 4, 19)  # the newest arena.ai daily folder, not 2025-12
    assert last.score_gap is not None and abs(last.score_gap - 30) <= 15  # arena.ai: 1501 vs 1470
    assert last.open is not None and "glm-5.1" in known_as(last.open.model)
    assert series[0].date == date(2023, 5, 31) and len(series) == 36  # one month-end per month, no holes
    assert all(p.status is not GapStatus.NO_DATA for p in series)


def test_each_date_is_seen_through_its_own_snapshot() -> None:
    """gpt-4o-2024-05-13 led at 1286.1 on the 2024-07-31 board; its newest rating is another number on
    another scale, and mixing the two would misstate the 2024 gap."""
    p = text_gaps().at(date(2024, 7, 31))
    assert p.closed is not None and "gpt-4o-2024-05-13" in known_as(p.closed.model) and p.closed.score == 1286.1
    newest = bundled().scores[(TEXT, p.closed.model)]
    assert newest.value != p.closed.score and len(newest.history) > 20
    assert p.score_gap == pytest.approx(1286.1 - 1261.7)  # llama-3.1-405b on the same board


def test_no_date_named_arena_benchmarks_and_categories_carry_histories() -> None:
    ids = set(bundled().benchmarks)
    assert not [b for b in ids if re.search(r"^arena-.*-\d{4}-\d{2}$", b)]
    assert {"arena-text-overall", "arena-text-coding", "arena-webdev", "arena-vision"} <= ids
    coding = benchmark_gaps(bundled(), {"arena-text-coding"})["arena-text-coding"]
    assert coding.ratings is not None and len(coding.ratings.snapshots) >= 10  # 16 commits, 11 days
    webdev = benchmark_gaps(bundled(), {"arena-webdev"})["arena-webdev"]
    assert webdev.data_end == date(2026, 4, 19)


# --- the rules, on small histories -----------------------------------------------------------------------


def elo(bench_id: str = "elo", tie: float = 10.0) -> Benchmark:
    return Benchmark(bench_id, bench_id, "lmarena", "Elo", None, None, True, tie, None, 400.0)


def entry(model: str, released: str, access: Access, *history: tuple[str, float, float | None]) -> Entry:
    return Entry(model, date.fromisoformat(released), access, history[-1][1], history[-1][2], None, history)


def test_gap_within_one_snapshot_not_across_rescaled_ones() -> None:
    # the second snapshot re-fits everyone ~100 higher; compared across snapshots the gap would be 110 or -90
    c = entry("c", "2024-01-01", Access.CLOSED, ("2024-02-01", 1200.0, None), ("2024-06-01", 1300.0, None))
    o = entry("o", "2024-01-15", Access.OPEN, ("2024-02-01", 1150.0, None), ("2024-06-01", 1295.0, None))
    g = BenchmarkGaps(elo(), [c, o])
    assert g.at(date(2024, 3, 31)).score_gap == 50 and g.at(date(2024, 3, 31)).status is GapStatus.OPEN_BEHIND
    assert g.at(date(2024, 6, 30)).score_gap == 5 and g.at(date(2024, 6, 30)).status is GapStatus.CAUGHT_UP
    assert g.at(date(2024, 1, 31)).status is GapStatus.NO_DATA  # before the first snapshot
    assert g.start() == date(2024, 2, 1) and g.data_end == date(2024, 6, 1)


def test_a_rating_carries_to_later_snapshots_for_a_bounded_time() -> None:
    c = entry("c", "2024-01-01", Access.CLOSED, ("2024-02-01", 1200.0, None), ("2024-03-01", 1201.0, None),
              ("2024-12-01", 1202.0, None))
    o = entry("o", "2024-01-01", Access.OPEN, ("2024-02-01", 1100.0, None))  # missing from later top-N files
    g = BenchmarkGaps(elo(), [c, o])
    assert g.at(date(2024, 3, 15)).score_gap == 101  # carried from 2024-02-01, 29 days older
    assert (date(2024, 12, 1) - date(2024, 2, 1)).days > MAX_CARRY_DAYS
    assert g.at(date(2024, 12, 15)).status is GapStatus.NO_DATA  # too old to stand on the 2024-12 board


def test_a_model_counts_from_its_release_and_its_first_rating() -> None:
    c = entry("c", "2024-01-01", Access.CLOSED, ("2024-02-01", 1200.0, None), ("2024-04-01", 1200.0, None))
    o1 = entry("o1", "2024-01-01", Access.OPEN, ("2024-02-01", 1100.0, None), ("2024-04-01", 1100.0, None))
    o2 = entry("o2", "2024-03-10", Access.OPEN, ("2024-04-01", 1190.0, None))  # released 03-10, rated 04-01
    g = BenchmarkGaps(elo(), [c, o1, o2])
    assert g.at(date(2024, 3, 31)).open.model == "o1"  # type: ignore[union-attr]
    assert g.at(date(2024, 4, 1)).open.model == "o2"  # type: ignore[union-attr]


def test_lag_and_margin_come_from_the_current_view_and_its_cis() -> None:
    old = entry("old", "2023-06-01", Access.CLOSED, ("2024-06-01", 1250.0, 4.0))
    new = entry("new", "2024-05-01", Access.CLOSED, ("2024-06-01", 1300.0, 4.0))
    o = entry("o", "2024-05-15", Access.OPEN, ("2024-06-01", 1245.0, 40.0 / Z95))  # a wide CI: +-40
    p = BenchmarkGaps(elo(), [old, new, o]).at(date(2024, 6, 30))
    assert p.closed.model == "new" and p.score_gap == 55  # type: ignore[union-attr]
    assert p.margin == pytest.approx(1.645 * (4.0**2 + (40.0 / Z95) ** 2) ** 0.5)  # the CIs, above the 10 floor
    # `old` (1250) is not clearly above 1245 with a +-40 CI, `new` is: the lag runs from new's release
    assert p.lag_days == (date(2024, 6, 30) - date(2024, 5, 1)).days


def test_extend_history_orders_snapshots_and_keeps_the_newest_value() -> None:
    base = Score("m", TEXT, 1400.0, 3.0, history=(("2026-04-18", 1400.0, 3.0),))
    nxt = extend_history(base, Score("m", TEXT, 1410.0, 2.0), date(2026, 4, 20))
    assert nxt.value == 1410.0 and [h[0] for h in nxt.history] == ["2026-04-18", "2026-04-20"]
    late = extend_history(nxt, Score("m", TEXT, 1390.0, 5.0), date(2026, 4, 19))
    assert late.value == 1410.0 and late.stderr == 2.0 and len(late.history) == 3  # an older file, filed
    same = extend_history(late, Score("m", TEXT, 1411.0, 2.0), date(2026, 4, 20))
    assert len(same.history) == 3 and same.value == 1411.0  # the same day's snapshot replaced
    # an undated file (arena-catalog, fboulnois CSV) cannot say which board it is: the history stays
    assert extend_history(same, Score("m", TEXT, 1420.0, 2.0), None) is same
    assert extend_history(None, Score("m", TEXT, 1420.0, 2.0), None).history == ()
    plain = Score("m", "epoch-gpqa-diamond", 50.0)
    assert extend_history(plain, Score("m", "epoch-gpqa-diamond", 51.0), None).history == ()
    fresh = extend_history(None, Score("m", TEXT, 1420.0, 2.0), date(2026, 4, 20))
    assert fresh.history == (("2026-04-20", 1420.0, 2.0),)


def test_an_undated_rating_is_not_placed_on_a_board() -> None:
    c = entry("c", "2024-01-01", Access.CLOSED, ("2024-02-01", 1200.0, None))
    o = entry("o", "2024-01-01", Access.OPEN, ("2024-02-01", 1150.0, None))
    undated = Entry("u", date(2024, 1, 1), Access.OPEN, 1300.0)  # no history: from an undated file
    p = BenchmarkGaps(elo(), [c, o, undated]).at(date(2024, 3, 1))
    assert p.open is not None and p.open.model == "o" and p.score_gap == 50


def test_a_bad_history_date_names_the_benchmark_and_model() -> None:
    with pytest.raises(ValueError, match=r"elo: m: history"):
        RatingHistory.build(elo(), [entry("m", "2024-01-01", Access.OPEN, ("2024-13-01", 1.0, None))])


# --- a live daily pull extends the same series -------------------------------------------------------------


def text_only_snapshot() -> bytes:
    """The bundled snapshot cut to the text benchmark (its real models and rating histories)."""
    doc = json.loads(gzip.decompress(bundled_bytes()))
    fields = doc["score_fields"]
    scores = [row for row in doc["scores"] if row[fields.index("benchmark")] == TEXT]
    used = {row[fields.index("model")] for row in scores}
    doc.update(benchmarks=[b for b in doc["benchmarks"] if b["id"] == TEXT], scores=scores,
               models=[m for m in doc["models"] if m["id"] in used], exclusions=[])
    return gzip.compress(json.dumps(doc).encode(), mtime=0)


def test_a_new_daily_pull_extends_the_same_benchmark(store: Store, httpserver: HTTPServer) -> None:
    domains = parse_domains(f'[domains.chat]\nname = "Chat"\nbenchmarks = [{{ id = "{TEXT}" }}]\n', "test")
    load_snapshot(store, domains, text_only_snapshot(), "bundled (text only)")
    before = store.read_dataset(store.require_generation())
    glm = next(m.id for m in before.models.values() if "glm-5.1" in m.aliases)
    assert before.scores[(TEXT, glm)].history[-1][0] == "2026-04-19"

    doc = json.loads(DAILY.read_bytes())  # the real 2026-04-19 arena.ai file, as the next day's pull
    doc["meta"]["fetched_at"] = "2026-04-20T04:40:11.120931+00:00"
    for m in doc["models"]:
        if m["model"] == "glm-5.1":
            m["score"], m["ci"] = 1491, 8
    httpserver.expect_request("/data/2026-04-20/text.json").respond_with_data(
        json.dumps(doc), content_type="application/json")
    src = LMArena(httpserver.url_for("/data/2026-04-20/text.json"))
    out = run_pull(store, domains, src, Http(timeout_s=5), retry_max_s=60)
    assert out.ok and out.result is not None and out.result.changed

    gen = store.require_generation()
    after = store.read_dataset(gen)
    assert set(after.benchmarks) == {TEXT}  # no date-named benchmark appeared
    score = after.scores[(TEXT, glm)]
    assert score.history[-2][0] == "2026-04-19" and score.history[-1] == ("2026-04-20", 1491.0,
                                                                            pytest.approx(8 / Z95))
    assert len(score.history) == len(before.scores[(TEXT, glm)].history) + 1
    series = store.read_json(keys.gen_benchmark_series(gen, TEXT))
    last = series[-1]
    assert last["date"] == "2026-04-20" and last["open_leader"]["model"] == glm
    assert last["score_gap"] == pytest.approx(1505 - 1491)  # claude-opus-4-7's thinking mode on that board
    jan25 = next(p for p in series if p["date"] == "2025-01-31")
    assert "deepseek-r1" in after.models[jan25["open_leader"]["model"]].aliases
    assert jan25["score_gap"] == pytest.approx(24.3)

    again = run_pull(store, domains, src, Http(timeout_s=5), retry_max_s=60)  # the same file once more
    assert again.ok and again.result is not None and not again.result.changed
    assert store.read_dataset(store.require_generation()).scores[(TEXT, glm)].history == score.history


def test_the_default_catalogue_file_is_not_re_dated_as_todays_board(store: Store, httpserver: HTTPServer) -> None:
    """The default GAPCAST_LMARENA_URL serves arena-catalog's 2025-12-11 file, which carries no date; the
    bundled history already holds that snapshot, so pulling it in 2026-11 must not make it the current board."""
    domains = parse_domains(f'[domains.chat]\nname = "Chat"\nbenchmarks = [{{ id = "{TEXT}" }}]\n', "test")
    load_snapshot(store, domains, text_only_snapshot(), "bundled (text only)")
    gen = store.require_generation()
    before = store.read_dataset(gen)
    httpserver.expect_request("/data/leaderboard-text.json").respond_with_data(
        (Path(__file__).parent / "fixtures" / "lmarena" / "leaderboard-text.json").read_bytes(),
        content_type="application/json")
    out = run_pull(store, domains, LMArena(httpserver.url_for("/data/leaderboard-text.json")), Http(timeout_s=5),
                   retry_max_s=60)
    assert out.ok and out.result is not None and not out.result.changed
    after = store.read_dataset(store.require_generation())
    assert {k: s.history for k, s in after.scores.items()} == {k: s.history for k, s in before.scores.items()}
    last = store.read_json(keys.gen_benchmark_series(store.require_generation(), TEXT))[-1]
    assert last["date"] == "2026-04-19"  # still the newest daily file, not the pull day


def test_reloading_the_snapshot_keeps_the_snapshots_a_live_pull_added(store: Store, httpserver: HTTPServer) -> None:
    """A rating history only grows: `gapcast load` of the bundled snapshot after a live daily pull merges the
    snapshot's boards into each history instead of replacing it, so the pulled board (acknowledged data) and
    the score's newest value survive, and a second reload changes nothing."""
    domains = parse_domains(f'[domains.chat]\nname = "Chat"\nbenchmarks = [{{ id = "{TEXT}" }}]\n', "test")
    load_snapshot(store, domains, text_only_snapshot(), "bundled (text only)")
    glm = next(m.id for m in store.read_dataset(store.require_generation()).models.values()
               if "glm-5.1" in m.aliases)
    doc = json.loads(DAILY.read_bytes())
    doc["meta"]["fetched_at"] = "2026-04-20T04:40:11.120931+00:00"
    httpserver.expect_request("/data/2026-04-20/text.json").respond_with_data(
        json.dumps(doc), content_type="application/json")
    out = run_pull(store, domains, LMArena(httpserver.url_for("/data/2026-04-20/text.json")), Http(timeout_s=5),
                   retry_max_s=60)
    assert out.ok and out.result is not None and out.result.changed
    pulled = store.read_dataset(store.require_generation()).scores[(TEXT, glm)]
    assert pulled.history[-1][0] == "2026-04-20"

    again = load_snapshot(store, domains, text_only_snapshot(), "bundled (text only), reloaded")
    kept = store.read_dataset(store.require_generation()).scores[(TEXT, glm)]
    assert kept.history == pulled.history and (kept.value, kept.stderr) == (pulled.value, pulled.stderr)
    assert not again.changed, "reloading the same snapshot rewrote scores the live pull had extended"
    series = store.read_json(keys.gen_benchmark_series(store.require_generation(), TEXT))
    assert series[-1]["date"] == "2026-04-20"
