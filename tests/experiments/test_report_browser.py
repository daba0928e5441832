"""report.html rendered in headless Chromium: every chart and caption present and non-empty."""

from __future__ import annotations

import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.experiments.conftest import default_runs

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class Figures(HTMLParser):
    """Collects each <figure>: its id, data-rendered, image source length and caption."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, str]] = []
        self._caption = False
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = a
        elif tag == "figure":
            self.figures.append({"id": a.get("id", ""), "rendered": a.get("data-rendered", "")})
        elif tag == "img" and self.figures:
            self.figures[-1]["src"] = a.get("src", "")
        elif tag == "figcaption":
            self._caption = True
            self.figures[-1]["caption"] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption":
            self._caption = False

    def handle_data(self, data: str) -> None:
        if self._caption:
            self.figures[-1]["caption"] += data


def test_report_renders_in_chromium(tmp_path: Path, small_report: Path) -> None:
    chromium = require_tool("chromium")
    page = (small_report / "report.html").resolve()
    dom = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    parser = Figures()
    parser.feed(dom)
    ids = [f["id"] for f in parser.figures]
    assert ids == ["disruption-loss", "timeline", *(f"msc-{slug}" for _, slug in default_runs())]
    for figure in parser.figures:
        # the page's own script marks a figure once its image decoded with a non-zero width
        assert figure["rendered"] == "yes", figure["id"]
        assert figure["src"].startswith("data:image/svg+xml;base64,")
        assert len(figure["src"]) > 2000
        assert len(figure["caption"].strip()) > 40, figure["id"]
    assert parser.body["data-rendered"] == parser.body["data-figures"] == str(len(ids))
    assert re.search(r'<p class="how-to-read">The bar chart gives, for each method', dom)


def test_screenshot_is_not_blank(tmp_path: Path, small_report: Path) -> None:
    chromium = require_tool("chromium")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,2400",
            f"--screenshot={shot}",
            (small_report / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    pytest.importorskip("matplotlib")
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.std() > 0.05  # not a blank page
