"""The report as a person sees it: opened in headless Chromium, looked at, screenshotted.

Two outputs: the demo (the real pipeline on the bundled sample site) and the
newsroom corpus (Arabic outlet names, a dying feed). Chromium is Debian's, installed
by ``tests/browser.py`` where we can (root with apt); elsewhere these tests skip.
"""

from __future__ import annotations

import io
import os

import pytest
from browser import chromium_page, ensure_chromium, why_no_chromium
from corpus_factory import newsroom

from marsad.samplesite.content import load_outlets
from pipeline.cli import main
from pipeline.run import run_batch

pytestmark = pytest.mark.slow

ARABIC = "[\\u0600-\\u06FF]"
CHARTS = {
    "chart-timeline": "Articles per",
    "chart-relevance": "Relevant stories per",
    "chart-audience": "Languages of relevant stories",
    "chart-outlets": "Top outlets by articles",
    "chart-failures": "Failures per outlet and",
    "chart-failure-reasons": "Failures by stage and reason",
    "chart-runs": "Rows written per run",
}
SECTIONS = [
    "Coverage over time",
    "Outlets",
    "Largest syndication clusters",
    "Most relevant recent articles",
    "Failures",
    "Runs",
]


@pytest.fixture(scope="module")
def chromium():
    if ensure_chromium() is None:
        pytest.skip(f"headless Chromium unavailable: {why_no_chromium()}")


@pytest.fixture(scope="module")
def demo_report(chromium, sample_site, tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-report")
    sources = sample_site.write_sources(str(root / "sources.yaml"))
    output = str(root / "out")
    run_batch(
        [
            "--sources",
            sources,
            "--output",
            output,
            "--allow_network",
            f"{sample_site.host_prefix}.0/24",
            "--min_interval",
            "0.05",
        ]
    )
    assert main(["report", output]) == 0
    return os.path.join(output, "report.html")


@pytest.fixture(scope="module")
def newsroom_report(chromium, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("newsroom-report") / "out")
    newsroom(output)
    assert main(["report", output, "--since", "all"]) == 0
    return os.path.join(output, "report.html")


def _open(page, path: str) -> list[str]:
    """Load the file, refusing (and recording) any request that is not the file itself."""
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    page.goto("file://" + path)
    page.wait_for_selector("body[data-charts-done]", timeout=60_000)
    return outside


def _chart_facts(page, chart_id: str) -> dict:
    return page.evaluate(
        """id => {
            const el = document.getElementById(id);
            const svg = el && el.querySelector('svg');
            if (!svg) return {rendered: el && el.dataset.rendered, svg: false};
            const box = svg.getBoundingClientRect();
            const marks = [...svg.querySelectorAll('path, rect')].filter(m => {
                const r = m.getBoundingClientRect();
                const fill = getComputedStyle(m).fill;
                return r.width > 0 && r.height > 0 && fill !== 'none' && fill !== 'rgb(255, 255, 255)';
            });
            return {rendered: el.dataset.rendered, svg: true, width: box.width,
                    height: box.height, marks: marks.length,
                    text: [...svg.querySelectorAll('text')].map(t => t.textContent).join(' | ')};
        }""",
        chart_id,
    )


def _looks_drawn(png: bytes) -> bool:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    inked = sum(n for n, rgb in colours if sum(rgb) < 3 * 235)
    return len(colours) > 8 and inked / (image.width * image.height) > 0.02


def test_demo_report_renders_every_section_offline(demo_report, tmp_path):
    with chromium_page() as page:
        outside = _open(page, demo_report)
        assert outside == [], f"the report reached for the network: {outside}"
        headings = page.locator("section > h2").all_inner_texts()
        assert headings == SECTIONS
        for chart_id, title in CHARTS.items():
            facts = _chart_facts(page, chart_id)
            assert facts["rendered"] == "true", (chart_id, facts)
            assert facts["width"] > 150 and facts["height"] > 60, (chart_id, facts)
            assert facts["marks"] >= 2, (chart_id, facts)
            assert title in facts["text"], (chart_id, facts["text"][:200])
            shot = page.locator(f"#{chart_id}").screenshot()
            assert _looks_drawn(shot), f"{chart_id} looks blank"
        # Every row of the tables is there: outlets, one syndication cluster, recent articles.
        assert page.locator("#outlets-table tbody tr").count() == len(load_outlets())
        assert page.locator("#clusters-table tbody tr").count() >= 1
        assert page.locator("#recent-table tbody tr").count() >= 5
        assert page.locator("#runs-table tbody tr").count() == 1
        page.screenshot(path=str(tmp_path / "demo-report.png"), full_page=True)
        assert (tmp_path / "demo-report.png").stat().st_size > 50_000


def test_arabic_reads_right_to_left(demo_report):
    with chromium_page() as page:
        _open(page, demo_report)
        cells = page.evaluate(
            f"""() => [...document.querySelectorAll('#recent-table td.title, #clusters-table td.title')]
                .filter(td => new RegExp('{ARABIC}').test(td.textContent))
                .map(td => ({{dir: getComputedStyle(td).direction,
                              align: getComputedStyle(td).textAlign,
                              lang: td.lang, text: td.textContent.trim().slice(0, 40)}}))"""
        )
        assert len(cells) >= 5, cells
        for cell in cells:
            assert cell["dir"] == "rtl", cell
            assert cell["lang"] == "ar", cell
        # An Arabic title starts at the right edge of its cell, as Arabic is read.
        box = page.evaluate(
            """() => {
                const td = [...document.querySelectorAll('#recent-table td.title')]
                    .find(td => td.lang === 'ar');
                const link = td.querySelector('a').getBoundingClientRect();
                const cell = td.getBoundingClientRect();
                return {gapRight: cell.right - link.right, gapLeft: link.left - cell.left};
            }"""
        )
        assert box["gapRight"] < box["gapLeft"], box


def test_arabic_outlet_names_in_charts_and_a_dying_feed(newsroom_report):
    with chromium_page() as page:
        assert _open(page, newsroom_report) == []
        legend = _chart_facts(page, "chart-timeline")["text"]
        assert "شفق نيوز" in legend and "الجزيرة" in legend
        heat = _chart_facts(page, "chart-failures")
        assert "Rudaw" in heat["text"] and heat["marks"] >= 9
        outlet_dirs = page.evaluate(
            """() => [...document.querySelectorAll('#outlets-table td[dir=auto]')]
                .map(td => [td.textContent.trim(), getComputedStyle(td).direction])"""
        )
        assert ["شفق نيوز", "rtl"] in outlet_dirs and ["Reuters", "ltr"] in outlet_dirs
        first = page.locator("#clusters-table ol.members li").first.inner_text()
        assert first.startswith("Reuters") and "first" in first
