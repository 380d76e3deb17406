"""The exported HTML page in a real headless browser (Debian chromium via Playwright)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tierline.dsl import export_tree, load_tree

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "src" / "tierline" / "packs" / "seed" / "trees" / "onboarding-track.dag"
SHARED = ROOT / "tests" / "golden" / "dsl" / "shared-subquestion.dag"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip(
            "Debian chromium is not installed (make test installs it: apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


class Watch:
    """Every request and every console error or page error of a page."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def _export(source: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"{source.stem}.html"
    out.write_text(export_tree(load_tree(source), "html"), encoding="utf-8")
    return out


def test_walk_the_seed_tree_in_the_browser(browser: Any, tmp_path: Path) -> None:
    page_file = _export(SEED, tmp_path)
    page = browser.new_page()
    watch = Watch(page)
    page.goto(page_file.as_uri())

    assert page.title() == "Which customer onboarding track should I use?"
    view = page.locator("#view")
    assert "What is the customer's annual contract value (ACV)?" in view.inner_text()
    assert "Contract value is the primary proxy" in page.locator(".hint").inner_text()
    assert page.locator(".answers button").count() == 3
    assert page.locator("#back").is_disabled()

    page.get_by_role("button", name="B $10,000 – $75,000").click()
    assert "strong technical sophistication" in page.locator(".question-text").inner_text()
    page.locator('.answers button[data-key="yes"]').click()
    page.locator('.answers button[data-key="yes"]').click()  # Q3
    assert "ACV above $150,000" in page.locator(".question-text").inner_text()
    crumbs = page.locator("#crumbs button")
    assert crumbs.all_inner_texts() == [
        "Q1 → B: $10,000 – $75,000",
        "Q2 → yes",
        "Q3 → yes",
        "Q4",
    ]
    page.locator('.answers button[data-key="no"]').click()

    card = page.locator("#outcome")
    assert card.locator(".outcome-label").inner_text() == "High-Touch Implementation"
    assert "warrants a dedicated, high-touch onboarding program" in card.inner_text()
    assert card.locator("code").inner_text() == "CS_OB_HIGH_TOUCH"
    swatch = card.evaluate("e => getComputedStyle(e).borderTopColor")
    assert swatch == "rgb(245, 158, 11)"  # #f59e0b

    page.locator("#back").click()
    assert page.locator("#outcome").count() == 0
    assert "ACV above $150,000" in page.locator(".question-text").inner_text()
    page.locator('.answers button[data-key="yes"]').click()
    assert page.locator(".outcome-label").inner_text() == (
        "Enterprise Onboarding with Professional Services"
    )

    # A breadcrumb jumps back to Q2 and forgets the later answers.
    page.locator("#crumbs button", has_text="Q2 → yes").click()
    assert "strong technical sophistication" in page.locator(".question-text").inner_text()
    assert page.locator("#crumbs button").all_inner_texts() == ["Q1 → B: $10,000 – $75,000", "Q2"]
    page.locator('.answers button[data-key="no"]').click()
    assert page.locator(".outcome-label").inner_text() == "Guided Onboarding (CSM-Led)"

    page.locator("#outcome button.restart").click()
    assert page.locator("#crumbs button").all_inner_texts() == ["Q1"]
    assert page.locator("#back").is_disabled()
    assert "annual contract value" in page.locator(".question-text").inner_text()

    assert watch.requests == [page_file.as_uri()]
    assert watch.errors == []
    page.close()


def test_page_works_inside_a_sandboxed_iframe(browser: Any, tmp_path: Path) -> None:
    page_file = _export(SHARED, tmp_path)
    host = tmp_path / "host.html"
    host.write_text(
        "<!DOCTYPE html><title>host</title>"
        f'<iframe sandbox="allow-scripts" src="{page_file.name}" width="800" height="600">'
        "</iframe>",
        encoding="utf-8",
    )
    page = browser.new_page()
    watch = Watch(page)
    page.goto(host.as_uri())
    frame = page.frame_locator("iframe")
    assert "Check the order form." in frame.locator(".hint").inner_text()
    frame.locator('.answers button[data-key="no"]').click()
    frame.locator('.answers button[data-key="yes"]').click()
    assert "contractual SLA" in frame.locator(".question-text").inner_text()
    assert frame.locator(".hint").inner_text() == "Only legal-reviewed contracts count."
    frame.locator('.answers button[data-key="no"]').click()
    card = frame.locator("#outcome")
    assert card.locator(".outcome-label").inner_text() == "Standard support"
    assert "Business hours, email and chat." in card.inner_text()
    assert card.locator("code").count() == 0  # no code on this outcome
    frame.locator("#back").click()
    assert "contractual SLA" in frame.locator(".question-text").inner_text()
    assert sorted(watch.requests) == sorted([host.as_uri(), page_file.as_uri()])
    assert watch.errors == []
    page.close()
