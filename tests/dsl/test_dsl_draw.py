"""Mermaid, DOT and HTML exports: golden drawings, escaping, colours and the page's shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierline.cli.app import app
from tierline.dsl import export_tree, parse_tree
from tierline.dsl.dot import quote_dot, tree_to_dot
from tierline.dsl.mermaid import escape_mermaid, tree_to_mermaid
from tierline.dsl.page import embed_json, tree_to_html
from tierline.dsl.palette import safe_color, text_color
from tierline.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "dsl"
SEED_DAG = ROOT / "src" / "tierline" / "packs" / "seed" / "trees" / "onboarding-track.dag"
SHAPES = ["shared-subquestion", "five-answers", "crlf-tabs"]
SOURCES = [GOLDEN / f"{name}.dag" for name in SHAPES] + [SEED_DAG]

NASTY = (
    'dag: Quotes "and" <tags> & more\n'
    "entry: Q1\n"
    "\n"
    'Q1: Is it "quoted" | piped # hashed <b>bold</b> `tick` \\ back {x} [y]?\n'
    '  A: say "hi" -> [A_OUT]\n'
    "  B: </script><script>alert(1)</script> -> [B_OUT]\n"
    "\n"
    '[A_OUT]: Label with "quotes"\n'
    "  color: red; background: url(http://evil)\n"
    "[B_OUT]: <img src=x onerror=alert(1)>\n"
    "  color: #ABC\n"
    '  code: C"1\n'
)


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def _check(expected: Path, actual: str, update: bool) -> None:
    if update:
        expected.write_bytes(actual.encode("utf-8"))
        return
    assert expected.exists(), f"{expected.name} is missing; run pytest --update-golden"
    assert actual == _read(expected)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["mermaid", "dot"])
def test_drawings_match_golden_files(source: Path, fmt: str, update_golden: bool) -> None:
    tree = parse_tree(_read(source), source.name)
    suffix = ".mmd" if fmt == "mermaid" else ".gv"
    _check(GOLDEN / f"{source.stem}{suffix}", export_tree(tree, fmt), update_golden)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_drawings_show_every_node_and_edge(source: Path) -> None:
    tree = parse_tree(_read(source), source.name)
    mermaid = tree_to_mermaid(tree)
    dot = tree_to_dot(tree)
    edges = sum(len(q.answers) for q in tree.questions)
    assert mermaid.count(" -->|") == edges
    assert dot.count(" -> ") == edges
    for question in tree.questions:
        assert f'"{escape_mermaid(question.id)}: ' in mermaid
        assert f'"{question.id}" [shape=box' in dot
    for outcome in tree.outcomes:
        assert escape_mermaid(outcome.label) in mermaid
        assert f'"[{outcome.id}]" [shape=box' in dot
        if outcome.color:
            assert f"fill:{safe_color(outcome.color)}," in mermaid
            assert f'fillcolor="{safe_color(outcome.color)}"' in dot


def test_mermaid_escapes_every_special_character() -> None:
    tree = parse_tree(NASTY, "nasty.dag")
    mermaid = tree_to_mermaid(tree)
    body = mermaid.split("\n", 1)[1]
    # Inside each quoted label there is no raw quote, bracket, pipe, angle bracket or backtick.
    for label in re.findall(r'"([^"]*)"', body):
        assert not set(label.replace("<br/>", "")) & set('"<>|`[]{}\\'), label
    assert "#quot;quoted#quot;" in mermaid
    assert "#lt;/script#gt;" in mermaid
    assert "#35; hashed" in mermaid
    # An unsafe colour is dropped, a short hex one is kept.
    assert "evil" not in mermaid
    assert "fill:#aabbcc," in mermaid
    assert escape_mermaid("a\nb") == "a<br/>b"


def test_dot_quotes_labels_and_drops_unsafe_colours() -> None:
    tree = parse_tree(NASTY, "nasty.dag")
    dot = tree_to_dot(tree)
    assert dot.startswith('digraph "Quotes \\"and\\" <tags> & more" {\n')
    assert 'say \\"hi\\"' in dot
    assert "back {x}" in dot and "\\\\ back" in dot
    assert "evil" not in dot
    assert 'fillcolor="#aabbcc"' in dot
    # Every line inside the graph is a statement closed by ';' (quotes balanced).
    for line in dot.splitlines()[1:-1]:
        assert line.endswith(";"), line
        assert len(re.sub(r"\\.", "", line).split('"')) % 2 == 1, line
    assert quote_dot('a "b" \\c') == '"a \\"b\\" \\\\c"'
    assert quote_dot("one two three", wrap=4) == '"one\\ntwo\\nthree"'


def test_palette_accepts_only_colours() -> None:
    assert safe_color(" #22C55E ") == "#22c55e"
    assert safe_color("#AbC") == "#aabbcc"
    assert safe_color("#abcd") == "#aabbccdd"
    assert safe_color("teal") == "teal"
    assert safe_color("red;x") is None
    assert safe_color("#12345") is None
    assert safe_color(None) is None
    assert text_color("#7c3aed") == "#ffffff"
    assert text_color("#22c55e") == "#111827"
    assert text_color("#fff") == "#111827"
    assert text_color("navy") == "#111827"


def _embedded(page: str) -> object:
    m = re.search(r'<script type="application/json" id="tree-data">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


def test_html_page_is_self_contained_and_embeds_the_tree_safely() -> None:
    tree = parse_tree(NASTY, "nasty.dag")
    page = tree_to_html(tree)
    # The hostile label cannot end the data element or inject markup.
    assert page.count("</script>") == 2
    assert "<img src=x" not in page
    assert "<title>Quotes &#34;and&#34; &lt;tags&gt; &amp; more</title>" in page
    data = _embedded(page)
    assert isinstance(data, dict)
    answers = data["questions"][0]["answers"]
    assert answers[1]["label"] == "</script><script>alert(1)</script>"
    outcomes = {o["id"]: o for o in data["outcomes"]}
    assert outcomes["A_OUT"]["color"] is None
    assert outcomes["B_OUT"]["code"] == 'C"1'
    # Nothing that could fetch: no URLs to other places, and a CSP that forbids requests.
    assert "default-src 'none'" in page
    assert not re.search(r"(?:src|href)=\"(?!data:)", page)
    assert "http://" not in page.replace("http://evil", "")


def test_html_of_the_seed_leaves_out_the_remote_image() -> None:
    page = tree_to_html(parse_tree(_read(SEED_DAG), "seed.dag"))
    assert "unsplash" not in page
    assert "Self-Serve Onboarding" in page
    assert embed_json({"a": "</script>\u2028&"}) == '{"a":"\\u003c/script\\u003e\\u2028\\u0026"}'


def test_cli_exports_every_format(tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt, start in [("mermaid", "%% "), ("dot", "digraph "), ("html", "<!DOCTYPE html>")]:
        out = tmp_path / f"tree.{fmt}"
        result = runner.invoke(app, ["tree", "export", str(SEED_DAG), "-f", fmt, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert _read(out).startswith(start)
    result = runner.invoke(app, ["tree", "export", str(SEED_DAG), "--format", "svg"])
    assert isinstance(result.exception, UsageError)
    assert "choose one of: dot, html, json, mermaid" in str(result.exception)
