"""Golden files: ``tests/golden/dsl/*.dag`` → ``*.json``, and ``broken-*.dag`` → ``*.err.txt``.

Run ``pytest --update-golden`` to rewrite the expected files, then review the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tierline.diagnostics import render_diagnostics
from tierline.dsl import export_tree, parse_tree, validate_tree
from tierline.errors import DslSyntaxError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "dsl"
SEED_DAG = ROOT / "src" / "tierline" / "packs" / "seed" / "trees" / "onboarding-track.dag"

CASES = sorted(p for p in GOLDEN.glob("*.dag") if not p.name.startswith("broken-"))
BROKEN = sorted(GOLDEN.glob("broken-*.dag"))


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _check(expected: Path, actual: str, update: bool) -> None:
    if update:
        expected.write_bytes(actual.encode("utf-8"))
        return
    assert expected.exists(), f"{expected.name} is missing; run pytest --update-golden"
    assert actual == _read(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [(p, p.with_suffix(".json")) for p in CASES] + [(SEED_DAG, GOLDEN / "onboarding-track.json")],
    ids=lambda p: p.name,
)
def test_valid_tree_exports_golden_json(source: Path, expected: Path, update_golden: bool) -> None:
    tree = parse_tree(_read(source), source.name)
    assert validate_tree(tree) == []
    _check(expected, export_tree(tree, "json"), update_golden)


@pytest.mark.parametrize("source", BROKEN, ids=lambda p: p.name)
def test_broken_tree_reports_golden_diagnostics(source: Path, update_golden: bool) -> None:
    text = _read(source)
    try:
        tree = parse_tree(text, source.name)
    except DslSyntaxError as exc:
        rendered = exc.render()
    else:
        diagnostics = validate_tree(tree)
        assert diagnostics, f"{source.name} should have problems"
        rendered = render_diagnostics(diagnostics, {source.name: text})
    _check(source.with_name(source.stem + ".err.txt"), rendered + "\n", update_golden)


def test_golden_cases_are_all_present() -> None:
    assert len(CASES) >= 3
    assert len(BROKEN) >= 11
