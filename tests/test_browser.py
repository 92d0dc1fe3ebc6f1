"""The dashboard in a real browser: headless Chromium loads `GET /` over HTTP and checks that the charts render.

Two data sets: the small test snapshot with every forecast computed, and the bundled snapshot with forecasts for
two domains only (the other cards show their "no forecast yet" state). Per domain card: the frontier chart has
closed and open lines, the gap chart its line (and the forecast fan where a forecast has a trajectory), tick
labels and legend items are visible, no text leaves its chart, lines stay in their plot area; the page fits the
window and asks no host but the local server. The summary table (issue 14) comes first: a row per domain above
the fold at 1400 px, each row's link scrolling to its card; no text is wider than its box (cells, headings, notes,
figures, footer) at 1400 px and at 390 px (DevTools device metrics: headless Chromium keeps a window at least
500 px wide), where only the tables' own containers scroll; the credit footer is visible; the track-record rows
name their source; the US-closed / China-open view shows the filtered leaders. Full-page screenshots go to
``tests/artifacts/`` (gitignored).

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``) and the
``selenium`` package; skips without them unless ``GAPCAST_TEST_REQUIRE_BROWSER=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
import redis
from werkzeug.serving import make_server

from forecasts.measure.domains import load_domains, parse_domains
from forecasts.publishing import outlook
from forecasts.records.snapshot import bundled_bytes
from forecasts.settings import Settings
from forecasts.storage.ingest import load_snapshot
from forecasts.storage.store import Store
from service import create_app
from tests.conftest import FIXED_NOW, SMALL_DOMAINS, small_snapshot_bytes

ARTIFACTS = Path(__file__).parent / "artifacts"
SMALL_DB, BUNDLED_DB = 9, 10
BUNDLED_FORECASTS = ("overall", "coding")  # the bundled variant computes only these domains' forecasts
WINDOW = (1400, 1000)
NARROW = (390, 900)  # a phone
TOLERANCE_PX = 1.5  # sub-pixel rounding and antialiasing
NETWORK_SCHEMES = ("http", "https", "ws", "wss", "ftp")  # URLs that can leave the machine
BROWSER_SCHEMES = ("data", "blob", "about", "chrome")  # URLs the browser serves itself


# ------------------------------------------------------------------------------------------------ the browser


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the environment says a browser is required (CI)."""
    if os.environ.get("GAPCAST_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; GAPCAST_TEST_REQUIRE_BROWSER=1 needs a browser: "
                    "apt-get install -y chromium chromium-driver, and pip install -e '.[test]' (selenium)")
    pytest.skip(f"{reason} (apt-get install chromium chromium-driver to run the browser tests)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, with performance (network) and console logs on."""
    chromium, chromedriver = _binary("chromium"), _binary("chromedriver")
    if chromium is None or chromedriver is None:
        _unavailable("chromium or chromedriver not found")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("the selenium package is not installed")
    assert chromium is not None and chromedriver is not None
    with pytest.MonkeyPatch.context() as mp, tempfile.TemporaryDirectory(prefix="gapcast-chromium-") as profile:
        mp.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a driver or browser
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    f"--user-data-dir={profile}"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        driver = webdriver.Chrome(service=Service(chromedriver), options=options)
        try:
            driver.set_page_load_timeout(20)
            yield driver
        finally:
            driver.quit()


# ------------------------------------------------------------------------------------------------ the sites


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    domains: list[str]
    #: domain -> its stored score-gap forecast (None when not computed yet)
    forecasts: dict[str, dict[str, Any] | None]


def _get_json(url: str) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, json.load(resp)


@pytest.fixture(scope="module", params=["small", "bundled"])
def site(request: pytest.FixtureRequest, redis_server: Any) -> Iterator[Site]:
    """The app over real HTTP (werkzeug, threaded) on its own loaded Redis database."""
    bundled = request.param == "bundled"
    client = redis.Redis.from_url(f"{redis_server.url}?db={BUNDLED_DB if bundled else SMALL_DB}")
    client.flushdb()
    store = Store(client, now=lambda: FIXED_NOW)
    if bundled:
        domains = load_domains()
        gen = load_snapshot(store, domains, bundled_bytes(), "bundled").generation
        refs = outlook.pending(store, gen, lambda r: r.kind == "domain" and r.metric == "score_gap"
                               and r.target in BUNDLED_FORECASTS)
    else:
        domains = parse_domains(SMALL_DOMAINS, "test")
        gen = load_snapshot(store, domains, small_snapshot_bytes(), "test").generation
        refs = outlook.pending(store, gen)
    outlook.compute(store, gen, refs, domains=domains)
    server = make_server("127.0.0.1", 0, create_app(Settings(redis_url="unused://"), client=client), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="gapcast-browser-test", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        ids = [row["domain"] for row in _get_json(f"{url}/v1/domains")[1]["domains"]]
        forecasts: dict[str, dict[str, Any] | None] = {}
        for d in ids:  # straight from Redis, not through the service
            raw = outlook.read_forecast(store, gen, "domain", d, "score_gap")
            forecasts[d] = None if raw is None else json.loads(raw)["forecast"]
        yield Site(request.param, url, ids, forecasts)
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()
        client.flushdb()
        client.close()


# ------------------------------------------------------------------------------------------------ measuring


MEASURE_JS = """
const done = arguments[arguments.length - 1];
document.fonts.ready.then(() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x0: r.left + scrollX, y0: r.top + scrollY, x1: r.right + scrollX, y1: r.bottom + scrollY,
            w: r.width, h: r.height}; };
  const shown = (el) => { for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden' || parseFloat(s.opacity) === 0) return false; }
    return true; };
  const item = (el) => ({text: el.textContent, cls: el.getAttribute('class') || '', box: box(el), shown: shown(el),
                         d: el.getAttribute('d') || '', stroke: el.getAttribute('stroke') || '',
                         fill: el.getAttribute('fill') || ''});
  const cards = [...document.querySelectorAll('section.domain-card')].map((card) => ({
    domain: card.dataset.domain, status: card.dataset.status, box: box(card), text: card.innerText,
    reason: card.querySelector('p.reason') ? card.querySelector('p.reason').textContent : null,
    charts: [...card.querySelectorAll('svg.gapcast-chart')].map((svg) => ({
      kind: svg.dataset.chart, box: box(svg), shown: shown(svg),
      plot: svg.querySelector('.plot-area') ? box(svg.querySelector('.plot-area')) : null,
      noData: !!svg.querySelector('.no-data'),
      paths: [...svg.querySelectorAll('path.series, path.fan')].map(item),
      ticks: [...svg.querySelectorAll('text.tick')].map((t) => ({...item(t),
               axis: t.closest('.axis-x') ? 'x' : t.closest('.axis-y') ? 'y' : ''})),
      legend: [...svg.querySelectorAll('.legend-item')].map(item),
      texts: [...svg.querySelectorAll('text')].map(item),
    })),
  }));
  const root = document.documentElement;
  const summary = [...document.querySelectorAll('table.summary-table tbody tr')].map((tr) => ({
    domain: tr.dataset.domain, box: box(tr), shown: shown(tr), href: tr.querySelector('a') ?
      tr.querySelector('a').getAttribute('href') : null, cells: [...tr.children].map((c) => c.textContent)}));
  const scrollers = [...document.querySelectorAll('section.summary .scroll')].map((el) => ({box: box(el),
    scrollWidth: el.scrollWidth, clientWidth: el.clientWidth}));
  // text that does not fit its box: a block or cell whose content is wider (or taller, for one clipped
  // line) than the box itself, where the text lives: table cells, headings, notes, figures, the footer
  const overflows = [...document.querySelectorAll('main th, main td, main h1, main h2, main p, main dt, main dd, '
                                                  + 'main footer, main .banner, main header')]
    .filter((el) => shown(el) && (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1
                                  && getComputedStyle(el).overflowY !== 'visible'))
    .map((el) => ({tag: el.tagName, cls: el.getAttribute('class') || '', text: el.textContent.slice(0, 80),
                   scrollWidth: el.scrollWidth, clientWidth: el.clientWidth}));
  const footer = document.querySelector('footer.credit');
  done({cards, summary, scrollers, overflows, innerHeight, innerWidth,
        footer: footer ? {box: box(footer), shown: shown(footer), text: footer.textContent} : null,
        trackRecord: [...document.querySelectorAll('table.track-record-table tbody tr')].map((tr) => ({
          domain: tr.dataset.domain, source: tr.dataset.source, text: tr.textContent})),
        scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
        resources: performance.getEntriesByType('resource').map((e) => e.name)});
});
"""


@dataclass(frozen=True)
class Page:
    site: Site
    measure: dict[str, Any]
    requests: list[str]
    console: list[dict[str, Any]]


def _load(driver: Any, site: Site) -> Page:
    driver.get_log("performance")  # drop what earlier pages logged
    driver.get_log("browser")
    driver.get(site.url + "/")
    measure = driver.execute_async_script(MEASURE_JS)
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    return Page(site, measure, requests, driver.get_log("browser"))


def _screenshot(driver: Any, path: Path) -> None:
    """A full-page PNG through the DevTools protocol (Chrome's WebDriver screenshot is viewport-only)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


@pytest.fixture(scope="module")
def page(browser: Any, site: Site) -> Page:
    loaded = _load(browser, site)
    _screenshot(browser, ARTIFACTS / ("dashboard.png" if site.name == "bundled" else f"dashboard-{site.name}.png"))
    return loaded


# ------------------------------------------------------------------------------------------------ geometry helpers

Box = dict[str, float]


def _inside(inner: Box, outer: Box, tol: float = TOLERANCE_PX) -> bool:
    return (inner["x0"] >= outer["x0"] - tol and inner["y0"] >= outer["y0"] - tol
            and inner["x1"] <= outer["x1"] + tol and inner["y1"] <= outer["y1"] + tol)


def _overlap(a: Box, b: Box, tol: float = 0.5) -> bool:
    return a["x0"] < b["x1"] - tol and b["x0"] < a["x1"] - tol and a["y0"] < b["y1"] - tol and b["y0"] < a["y1"] - tol


def _visible(item: dict[str, Any]) -> bool:
    return bool(item["shown"]) and item["box"]["w"] > 0 and item["box"]["h"] > 0


def _chart(card: dict[str, Any], kind: str) -> dict[str, Any]:
    charts = [c for c in card["charts"] if c["kind"] == kind]
    assert len(charts) == 1, f"{card['domain']}: expected one {kind} chart, found {len(charts)}"
    return dict(charts[0])


def _paths(chart: dict[str, Any], cls: str) -> list[dict[str, Any]]:
    return [p for p in chart["paths"] if cls in p["cls"].split()]


def _where(card: dict[str, Any], chart: dict[str, Any]) -> str:
    return f"{card['domain']} {chart['kind']} chart"


# ------------------------------------------------------------------------------------------------ the tests


def test_one_card_per_domain_with_three_visible_charts(page: Page) -> None:
    cards = page.measure["cards"]
    assert [c["domain"] for c in cards] == page.site.domains
    for card in cards:
        assert [c["kind"] for c in card["charts"]] == ["frontier", "gap", "catch-up"], card["domain"]
        for chart in card["charts"]:
            assert chart["shown"] and chart["box"]["w"] >= 300 and chart["box"]["h"] >= 200, _where(card, chart)
            assert _inside(chart["box"], card["box"]), f"{_where(card, chart)} sticks out of its card"


def test_frontier_charts_have_closed_and_open_lines(page: Page) -> None:
    for card in page.measure["cards"]:
        chart = _chart(card, "frontier")
        where = _where(card, chart)
        assert not chart["noData"] and chart["plot"] is not None, f"{where}: no plot"
        for cls in ("series-closed", "series-open"):
            paths = _paths(chart, cls)
            assert len(paths) == 1, f"{where}: {len(paths)} {cls} paths"
            path = paths[0]
            assert path["d"].startswith("M") and len(path["d"]) > 8, f"{where}: {cls} has path data {path['d']!r}"
            assert path["shown"] and path["box"]["w"] > 0, f"{where}: {cls} has an empty box {path['box']}"
            assert path["stroke"] not in ("", "none"), f"{where}: {cls} has no stroke"
            assert _inside(path["box"], chart["plot"]), f"{where}: {cls} leaves the plot area"
        closed, open_ = _paths(chart, "series-closed")[0], _paths(chart, "series-open")[0]
        assert closed["stroke"] != open_["stroke"], f"{where}: closed and open lines share a colour"


def test_gap_charts_have_the_line_and_a_fan_where_forecast(page: Page) -> None:
    fans = 0
    for card in page.measure["cards"]:
        chart = _chart(card, "gap")
        where = _where(card, chart)
        forecast = page.site.forecasts[card["domain"]]
        gaps = _paths(chart, "series-gap")
        assert len(gaps) == 1 and gaps[0]["d"].startswith("M"), f"{where}: no gap line"
        assert gaps[0]["shown"] and gaps[0]["box"]["w"] > 0, f"{where}: gap line has an empty box {gaps[0]['box']}"
        fan = _paths(chart, "fan")
        if forecast and forecast.get("trajectory"):
            fans += 1
            assert len(fan) == 1 and fan[0]["d"].endswith("Z"), f"{where}: forecast but no fan"
            assert _visible(fan[0]), f"{where}: fan has an empty box {fan[0]['box']}"
            assert len(_paths(chart, "series-forecast")) == 1, f"{where}: forecast but no forecast line"
            assert {"Forecast", "80% interval"} <= {i["text"] for i in chart["legend"]}, f"{where}: legend"
        else:
            assert not fan and not _paths(chart, "series-forecast"), f"{where}: a fan without a forecast"
        for path in chart["paths"]:
            assert _inside(path["box"], chart["plot"]), f"{where}: {path['cls']} leaves the plot area"
    assert fans > 0, "no card drew a forecast fan: the forecasts this test computes are missing"


def test_each_card_shows_its_own_domains_forecast(page: Page) -> None:
    """The forecast text on each card is the one stored for that domain in this site's Redis."""
    wrong = [f"{card['domain']}: card says {card['reason']!r}, stored forecast says {forecast.get('reason')!r}"
             for card in page.measure["cards"]
             if (forecast := page.site.forecasts[card["domain"]]) is not None and card["reason"] != forecast["reason"]]
    assert not wrong, "\n".join(wrong)


def test_cards_without_a_forecast_say_so(page: Page) -> None:
    missing = [d for d, f in page.site.forecasts.items() if f is None]
    if page.site.name == "bundled":
        assert missing and set(missing).isdisjoint(BUNDLED_FORECASTS)
    for card in page.measure["cards"]:
        chart = _chart(card, "catch-up")
        messages = [t["text"] for t in chart["texts"] if "message" in t["cls"].split()]
        if card["domain"] in missing:
            assert chart["noData"] and messages == ["No forecast yet"], f"{_where(card, chart)}: {messages}"
            assert "No forecast yet." in card["text"], card["domain"]
            assert all(_visible(t) for t in chart["texts"]), f"{_where(card, chart)}: invisible text"
        else:
            assert "No forecast yet" not in card["text"], card["domain"]


def test_ticks_and_legends_are_visible_and_do_not_collide(page: Page) -> None:
    for card in page.measure["cards"]:
        for chart in card["charts"]:
            where = _where(card, chart)
            if chart["kind"] in ("frontier", "gap"):
                for axis in ("x", "y"):
                    ticks = [t for t in chart["ticks"] if t["axis"] == axis]
                    assert len(ticks) >= (1 if axis == "x" else 3), f"{where}: {len(ticks)} {axis} tick labels"
                legend = chart["legend"]
                assert len(legend) >= (2 if chart["kind"] == "frontier" else 1), f"{where}: legend {legend}"
                hidden = [i["text"] for i in legend if not _visible(i) or not i["text"].strip()]
                assert not hidden, f"{where}: invisible legend items {hidden}"
                for a, b in ((a, b) for i, a in enumerate(legend) for b in legend[i + 1:]):
                    assert not _overlap(a["box"], b["box"]), f"{where}: legend {a['text']!r} overlaps {b['text']!r}"
            hidden = [t["text"] for t in chart["ticks"] if not _visible(t) or not t["text"].strip()]
            assert not hidden, f"{where}: invisible tick labels {hidden}"
            for axis in ("x", "y"):
                ticks = sorted((t for t in chart["ticks"] if t["axis"] == axis), key=lambda t: t["box"]["x0"])
                for i, a in enumerate(ticks):
                    for b in ticks[i + 1:]:
                        assert not _overlap(a["box"], b["box"]), \
                            f"{where}: tick {a['text']!r} overlaps tick {b['text']!r}"


def test_no_text_leaves_its_chart(page: Page) -> None:
    outside = [
        f"{_where(card, chart)}: {t['cls'] or 'text'} {t['text']!r} at {t['box']} outside {chart['box']}"
        for card in page.measure["cards"] for chart in card["charts"] for t in chart["texts"]
        if t["text"].strip() and not _inside(t["box"], chart["box"])
    ]
    assert not outside, "\n".join(outside)


def test_page_fits_the_window(page: Page) -> None:
    assert page.measure["scrollWidth"] <= page.measure["clientWidth"], \
        f"horizontal overflow: {page.measure['scrollWidth']} > {page.measure['clientWidth']}"


def test_no_request_leaves_the_local_server(page: Page) -> None:
    origin = urlsplit(page.site.url).netloc
    seen = page.requests + page.measure["resources"]
    assert any(urlsplit(u).netloc == origin and urlsplit(u).path == "/" for u in page.requests), page.requests
    # Only network schemes can leave the machine; Chromium's own chrome:// resources (seen once in CI, an
    # internal page's icon in the performance log) and data:/blob: URLs never do.
    foreign = sorted({u for u in seen if urlsplit(u).scheme in NETWORK_SCHEMES and urlsplit(u).netloc != origin})
    strange = sorted({u for u in seen if urlsplit(u).scheme not in NETWORK_SCHEMES + BROWSER_SCHEMES})
    assert not strange, f"the dashboard used unexpected URL schemes: {strange}"
    assert not foreign, f"the dashboard asked other hosts: {foreign}"


def test_no_console_errors(page: Page) -> None:
    # The page declares no icon, so Chromium's automatic /favicon.ico request 404s: tolerated, not an error here.
    errors = [e["message"] for e in page.console if e.get("level") == "SEVERE"
              and not e["message"].startswith(f"{page.site.url}/favicon.ico ")]
    assert not errors, errors


@contextmanager
def _narrow(browser: Any) -> Iterator[None]:
    """The viewport at NARROW for the block. Through DevTools' device metrics: headless Chromium will not
    make a window narrower than 500 px, so set_window_size(390, ...) would test 500 px."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": NARROW[0], "height": NARROW[1], "deviceScaleFactor": 1, "mobile": False})
    try:
        yield
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_narrow_window_scales_charts_without_overflow(browser: Any, site: Site) -> None:
    with _narrow(browser):
        narrow = _load(browser, site)
        _screenshot(browser, ARTIFACTS / f"dashboard-{site.name}-narrow.png")
    m = narrow.measure
    assert m["innerWidth"] == NARROW[0], f"the viewport is {m['innerWidth']} px wide, not {NARROW[0]}"
    assert m["scrollWidth"] <= m["clientWidth"], f"horizontal overflow at {NARROW}: {m['scrollWidth']}"
    for card in m["cards"]:
        for chart in card["charts"]:
            assert _inside(chart["box"], card["box"]), f"{_where(card, chart)} sticks out of its card"
            bad = [t["text"] for t in chart["texts"] if t["text"].strip() and not _inside(t["box"], chart["box"])]
            assert not bad, f"{_where(card, chart)}: text outside the chart {bad}"
            assert all(_visible(t) for t in chart["ticks"]), f"{_where(card, chart)}: invisible ticks"


# ------------------------------------------------------------------------------------------------ issue 14: summary


def test_the_first_screen_is_the_summary_table_a_row_per_domain(page: Page) -> None:
    m = page.measure
    rows = m["summary"]
    assert [r["domain"] for r in rows] == page.site.domains
    assert [r["href"] for r in rows] == [f"#domain-{d}" for d in page.site.domains]
    first_card = min(c["box"]["y0"] for c in m["cards"])
    for r in rows:
        assert r["shown"] and r["box"]["h"] > 0, r["domain"]
        assert r["box"]["y1"] <= m["innerHeight"], (f"{r['domain']}'s summary row ends at {r['box']['y1']:.0f} "
                                                    f"px, below the first screen ({m['innerHeight']} px)")
        assert r["box"]["y1"] <= first_card, f"{r['domain']}: the summary table is not above the cards"
        assert len(r["cells"]) == 9 and all(c.strip() for c in r["cells"]), r["cells"]


def test_each_summary_row_links_to_its_card(browser: Any, site: Site) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site.url + "/")
    for domain in site.domains:
        browser.execute_script("window.scrollTo(0, 0)")
        browser.find_element(By.CSS_SELECTOR, f'table.summary-table tr[data-domain="{domain}"] a').click()
        top, at_end, height = browser.execute_script(
            "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
            "const root = document.documentElement;"
            "return [r.top, Math.abs(root.scrollTop + innerHeight - root.scrollHeight) < 2, innerHeight];",
            f"domain-{domain}")
        assert abs(top) <= 2 or (at_end and 0 <= top < height), f"{domain}: its card is at {top:.0f} px after the click"
        assert browser.current_url.endswith(f"#domain-{domain}")


def test_no_text_overflows_its_box(page: Page) -> None:
    assert not page.measure["overflows"], "\n".join(
        f"{o['tag']}.{o['cls']} {o['text']!r}: {o['scrollWidth']} px of content in {o['clientWidth']} px"
        for o in page.measure["overflows"])


def test_the_credit_footer_is_visible(page: Page) -> None:
    footer = page.measure["footer"]
    assert footer is not None and footer["shown"] and footer["box"]["h"] > 0
    assert "Epoch AI" in footer["text"] and "CC BY 4.0" in footer["text"]
    assert footer["box"]["x1"] <= page.measure["clientWidth"] + TOLERANCE_PX


def test_the_track_record_section_labels_its_sources(page: Page) -> None:
    _, record = _get_json(f"{page.site.url}/v1/track-record")
    rows = page.measure["trackRecord"]
    sources = {r["source"] for r in rows}
    assert sources == {s for s in ("backtest", "live") if record["counts"][s]}, (sources, record["counts"])
    assert {r["domain"] for r in rows} <= {*page.site.domains, "pooled"}
    for r in rows:  # each line says which kind of record it is
        assert r["source"] in r["text"], r


def test_the_standalone_chart_is_titled_in_words(site: Site) -> None:
    names = {row["domain"]: row["name"] for row in _get_json(f"{site.url}/v1/domains")[1]["domains"]}
    for domain in site.domains[:3]:
        with urllib.request.urlopen(f"{site.url}/v1/domains/{domain}/chart.svg", timeout=10) as resp:
            svg = resp.read().decode()
        assert f"<title>{names[domain]}: score gap (% of scale)</title>".replace("&", "&amp;") in svg, svg[:400]
        assert "score_gap" not in svg.split("</title>")[0]


def test_narrow_window_keeps_text_in_its_boxes_and_scrolls_only_the_table(browser: Any, site: Site) -> None:
    with _narrow(browser):
        m = _load(browser, site).measure
    assert m["innerWidth"] == NARROW[0], f"the viewport is {m['innerWidth']} px wide, not {NARROW[0]}"
    assert m["scrollWidth"] <= m["clientWidth"], f"the page scrolls sideways at {NARROW}: {m['scrollWidth']}"
    assert not m["overflows"], [(o["tag"], o["text"], o["scrollWidth"], o["clientWidth"]) for o in m["overflows"]]
    assert [r["domain"] for r in m["summary"]] == site.domains
    for s in m["scrollers"]:  # the tables scroll inside their own containers, which fit the window
        assert s["box"]["x0"] >= -TOLERANCE_PX and s["box"]["x1"] <= m["clientWidth"] + TOLERANCE_PX, s
    assert m["footer"] is not None and m["footer"]["shown"]


def test_the_us_closed_china_open_view(browser: Any, site: Site) -> None:
    """The toggle's view: the summary table on the closed_country=US&open_country=CN frontiers (the same
    leaders as the domain list's filtered answer), offered only where the data has such models."""
    url = f"{site.url}/v1/domains?closed_country=US&open_country=CN"
    try:
        filtered = _get_json(url)[1]["domains"]
    except urllib.error.HTTPError as exc:  # no US closed or no Chinese open model in this data: no such view
        assert exc.code == 400
        with urllib.request.urlopen(site.url + "/", timeout=10) as resp:
            assert "?view=us-cn" not in resp.read().decode()
        return
    browser.get(site.url + "/")
    assert browser.execute_script("return document.querySelector('nav.view-toggle a[href=\"/?view=us-cn\"]') !== null")
    browser.get(site.url + "/?view=us-cn")
    m = browser.execute_async_script(MEASURE_JS)
    assert [r["domain"] for r in m["summary"]] == [row["domain"] for row in filtered]
    for r, row in zip(m["summary"], filtered, strict=True):
        for cell, key in ((r["cells"][5], "closed_leader"), (r["cells"][6], "open_leader")):
            leader = row[key]
            assert (leader is None and cell == "—") or cell.startswith(leader["model"] + " "), (r["domain"], cell)
        assert r["cells"][4] == "n/a in this view"  # forecasts are of the unfiltered series only
    assert not m["overflows"], m["overflows"]
    current = browser.execute_script("return document.querySelector('nav.view-toggle a.current').textContent")
    assert current == "US closed vs China open"
    try:
        urllib.request.urlopen(site.url + "/?view=nope", timeout=10)
        raise AssertionError("an unknown view was accepted")
    except urllib.error.HTTPError as exc:
        body = json.load(exc)
        assert exc.code == 400 and body["ok"] is False and body["errors"][0]["field"] == "view"
