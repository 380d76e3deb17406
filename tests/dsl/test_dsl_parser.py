"""The DSL parser: the seed, the grammar's corners, positions, and hypothesis round trips."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline.dsl import (
    Answer,
    Header,
    Outcome,
    Question,
    Target,
    Tree,
    check_tree,
    layout_tree,
    load_tree,
    parse_tree,
    tree_to_dsl,
)
from tierline.errors import DslSyntaxError, UsageError

ROOT = Path(__file__).resolve().parents[2]
SEED_DAG = ROOT / "src" / "tierline" / "packs" / "seed" / "trees" / "onboarding-track.dag"


def test_seed_parses_with_every_part() -> None:
    tree = load_tree(SEED_DAG)
    assert [h.key for h in tree.headers] == [
        "dag",
        "version",
        "image",
        "description",
        "tags",
        "entry",
    ]
    assert tree.header("image") == (
        "https://images.unsplash.com/photo-1531497865144-0464ef8fb9a9?w=1200&q=80"
    )
    assert tree.entry == "Q1"
    assert [q.id for q in tree.questions] == ["Q1", "Q2", "Q3", "Q4"]
    q1 = tree.questions[0]
    assert [(a.key, a.label, str(a.target)) for a in q1.answers] == [
        ("A", "Under $10,000", "[SELF_SERVE]"),
        ("B", "$10,000 – $75,000", "Q2"),
        ("C", "Above $75,000", "Q3"),
    ]
    assert q1.hint is not None and q1.hint.startswith("Contract value is the primary proxy")
    q2 = tree.questions[1]
    assert [(a.key, a.label, str(a.target)) for a in q2.answers] == [
        ("yes", "yes", "Q3"),
        ("no", "no", "[GUIDED_ONBOARDING]"),
    ]
    self_serve = tree.outcomes[0]
    assert [k for k, _ in self_serve.fields] == ["color", "description", "code"]
    assert self_serve.color == "#22c55e" and self_serve.code == "CS_OB_SELF_SERVE"
    assert tree.source == SEED_DAG.read_text(encoding="utf-8")
    assert tree.path == str(SEED_DAG)
    assert check_tree(tree) is tree


def test_positions_point_at_the_tokens() -> None:
    tree = load_tree(SEED_DAG)
    q1 = tree.questions[0]
    assert (q1.span.line, q1.span.col, q1.span.length) == (8, 1, 2)
    target = q1.answers[0].target
    assert (target.span.line, target.span.col, target.span.length) == (10, 23, 12)
    no = tree.questions[1].answers[1].target
    assert (no.span.line, no.span.col) == (17, 10)
    entry = next(h for h in tree.headers if h.key == "entry")
    assert (entry.span.line, entry.span.col, entry.span.length) == (6, 8, 2)
    assert tree.outcomes[0].span.col == 2


def test_layout_of_the_seed_is_the_seed_text() -> None:
    tree = load_tree(SEED_DAG)
    assert layout_tree(tree) == tree.source
    assert tree_to_dsl(tree) is tree.source


def test_crlf_tabs_trailing_blanks_and_comments() -> None:
    text = (
        "# leading comment\r\ndag: x  \r\nentry: Q1\t\r\n\r\nQ1: Go?\r\n"
        "\t# inside a block\r\n\tyes\t->   Q2 \r\n\tno -> [END]\r\nQ2: Then?\r\n  A: a -> [END]\r\n"
        "[END]: End  \r\n\tcolor: red\r\n"
    )
    tree = parse_tree(text)
    assert tree.entry == "Q1"
    assert [str(a.target) for a in tree.questions[0].answers] == ["Q2", "[END]"]
    assert tree.outcomes[0].fields == (("color", "red"),)
    assert tree.source == text


def test_header_values_keep_colons_and_unknown_keys_in_order() -> None:
    tree = parse_tree(
        "dag: a: b\nowner: me\nurl: http://x/y?z=1\nentry: Q1\n\nQ1: q\n  yes -> [Y]\n"
    )
    assert [(h.key, h.value) for h in tree.headers] == [
        ("dag", "a: b"),
        ("owner", "me"),
        ("url", "http://x/y?z=1"),
        ("entry", "Q1"),
    ]


def test_question_extra_fields_and_labels_with_arrows() -> None:
    text = (
        "entry: Q1\n\nQ1: q\n  owner: revops\n  note: a -> b c\n  A: x -> y -> Q2\n"
        "  BB: Label: with colon -> [O]\n  yes->Q2\nQ2: r\n  yes -> [O]\n[O]: o\n"
    )
    q1 = parse_tree(text).questions[0]
    assert q1.extra == (("owner", "revops"), ("note", "a -> b c"))
    assert [(a.key, a.label, str(a.target)) for a in q1.answers] == [
        ("A", "x -> y", "Q2"),
        ("BB", "Label: with colon", "[O]"),
        ("yes", "yes", "Q2"),
    ]


def test_blank_lines_between_blocks_are_optional() -> None:
    tree = parse_tree("entry: Q1\nQ1: q\n  yes -> Q2\nQ2: r\n  no -> [O]\n[O]: o\n  code: X\n")
    assert [q.id for q in tree.questions] == ["Q1", "Q2"]
    assert tree.outcomes[0].code == "X"


def test_every_syntax_error_is_reported_at_once() -> None:
    text = "entry Q1\n\nQ1: q\n  A: a -> [B\n  what\n  yes ->\n[X]\n  oops\nQ2:\n  yes -> Q1\n"
    with pytest.raises(DslSyntaxError) as info:
        parse_tree(text, "t.dag")
    where = [(d.line, d.col) for d in info.value.diagnostics]
    assert where == [(1, 1), (4, 11), (5, 3), (6, 9), (7, 1), (9, 1)]
    assert info.value.line == 1 and info.value.col == 1
    rendered = str(info.value)
    assert rendered.startswith("t.dag:1:1: error: expected a header 'key: value', got 'entry Q1'")
    assert "    4 |   A: a -> [B\n      |           ^^\n" in rendered


def test_indented_line_outside_a_block() -> None:
    with pytest.raises(DslSyntaxError) as info:
        parse_tree("  yes -> Q1\n")
    assert info.value.first.message == "indented line outside a question or outcome block"


def test_load_tree_keeps_crlf_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "t.dag"
    path.write_bytes(b"entry: Q1\r\n\r\nQ1: q\r\n  yes -> [Y]\r\n[Y]: y\r\n")
    assert load_tree(path).source == "entry: Q1\r\n\r\nQ1: q\r\n  yes -> [Y]\r\n[Y]: y\r\n"
    with pytest.raises(UsageError, match="cannot read"):
        load_tree(tmp_path / "missing.dag")
    bad = tmp_path / "bad.dag"
    bad.write_bytes(b"entry: \xff\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_tree(bad)


# --- hypothesis -------------------------------------------------------------------------

_IDS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True)
_TEXT = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=30
).filter(lambda s: s == s.strip() and len(s.splitlines()) == 1)
_FIELD_KEYS = st.from_regex(r"[a-z][a-z_]{2,8}", fullmatch=True).filter(lambda k: k != "hint")
_FIELD_VALUES = st.one_of(st.just(""), _TEXT.filter(lambda s: "->" not in s))


@st.composite
def trees(draw: st.DrawFn) -> Tree:
    """A valid tree: unique ids, each question's answers lead to later questions or outcomes."""
    ids = draw(st.lists(_IDS, min_size=2, max_size=8, unique_by=str.casefold))
    n_questions = draw(st.integers(1, len(ids) - 1))
    qids, oids = ids[:n_questions], ids[n_questions:]
    questions = []
    for i, qid in enumerate(qids):
        later = [Target(q, False) for q in qids[i + 1 :]] + [Target(o, True) for o in oids]
        if draw(st.booleans()):
            keys = ["yes", "no"][: draw(st.integers(1, 2))]
            labels = keys
        else:
            count = draw(st.integers(1, 5))
            keys = [chr(ord("A") + k) for k in range(count)]
            labels = draw(st.lists(_TEXT, min_size=count, max_size=count, unique_by=str.casefold))
        answers = tuple(
            Answer(key=k, label=lab, target=draw(st.sampled_from(later)))
            for k, lab in zip(keys, labels, strict=True)
        )
        questions.append(
            Question(
                id=qid,
                text=draw(_TEXT),
                answers=answers,
                hint=draw(st.none() | _TEXT),
                extra=tuple(draw(st.lists(st.tuples(_FIELD_KEYS, _FIELD_VALUES), max_size=2))),
            )
        )
    outcomes = tuple(
        Outcome(
            id=oid,
            label=draw(_TEXT),
            fields=tuple(draw(st.lists(st.tuples(_FIELD_KEYS, _FIELD_VALUES), max_size=3))),
        )
        for oid in oids
    )
    headers = (
        Header("dag", draw(_TEXT)),
        *[
            Header(k, v)
            for k, v in draw(st.lists(st.tuples(_FIELD_KEYS, _FIELD_VALUES), max_size=3))
        ],
        Header("entry", qids[0]),
    )
    return Tree(headers=headers, questions=tuple(questions), outcomes=outcomes)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_parse_of_layout_is_the_same_tree(tree: Tree) -> None:
    text = tree_to_dsl(tree)
    again = parse_tree(text)
    assert again == tree
    assert layout_tree(again) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_syntax_errors_with_valid_positions(text: str) -> None:
    try:
        tree = parse_tree(text)
    except DslSyntaxError as exc:
        lines = len(text.splitlines())
        for d in exc.diagnostics:
            assert 1 <= d.line <= lines + 1
            assert d.col >= 1
        assert str(exc)
    else:
        assert tree.source == text


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "entry: Q1",
                "",
                "Q1: q",
                "  yes -> Q2",
                "  A: a -> [O]",
                "[O]: o",
                "  c: d",
                "  hint: h",
                "Q2 x",
                "  no ->",
                "# c",
                "\t-> [",
                "[X",
                "Q2: r",
            ]
        ),
        max_size=12,
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_dsl_like_text_raises_only_syntax_errors(lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    try:
        parse_tree(text)
    except DslSyntaxError as exc:
        assert all(1 <= d.line <= len(text.splitlines()) + 1 for d in exc.diagnostics)
