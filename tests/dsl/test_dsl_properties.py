"""Hypothesis properties: layout/parse round trips on DAG-shaped trees, walks and drawings of
any valid tree, and arbitrary text failing only with positioned DSL syntax errors."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tierline.diagnostics import Diagnostic
from tierline.dsl import (
    Answer,
    Header,
    Outcome,
    Question,
    Target,
    Tree,
    export_tree,
    parse_tree,
    tree_to_dsl,
    validate_tree,
    walk_tree,
)
from tierline.errors import DiagnosticsError, DslSyntaxError

_IDS = st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True)
_CHARS = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
_TEXT = st.text(_CHARS, min_size=1, max_size=24).filter(lambda s: s == s.strip())
_FIELD_KEYS = st.from_regex(r"[a-z][a-z_]{2,7}", fullmatch=True).filter(
    lambda k: k not in {"hint", "yes"}
)
_VALUES = _TEXT.filter(lambda s: "->" not in s)


@st.composite
def dags(draw: st.DrawFn) -> Tree:
    """A valid tree: answers only lead forward, so it is acyclic; targets may be shared."""
    ids = draw(st.lists(_IDS, min_size=3, max_size=9, unique_by=str.casefold))
    n_questions = draw(st.integers(1, min(5, len(ids) - 1)))
    qids, oids = ids[:n_questions], ids[n_questions:]
    questions = []
    for i, qid in enumerate(qids):
        later = [Target(q, False) for q in qids[i + 1 :]] + [Target(o, True) for o in oids]
        if draw(st.booleans()):
            pairs = [("yes", "yes"), ("no", "no")]
        else:
            count = draw(st.integers(1, 5))
            labels = draw(st.lists(_TEXT, min_size=count, max_size=count, unique_by=str.casefold))
            pairs = list(zip("ABCDE", labels, strict=False))
        answers = tuple(
            Answer(key=k, label=lab, target=draw(st.sampled_from(later))) for k, lab in pairs
        )
        questions.append(
            Question(
                id=qid,
                text=draw(_TEXT),
                answers=answers,
                hint=draw(st.none() | _TEXT),
                extra=tuple(draw(st.lists(st.tuples(_FIELD_KEYS, _VALUES), max_size=1))),
            )
        )
    outcomes = []
    for oid in oids:
        fields = draw(
            st.lists(
                st.sampled_from(["color", "description", "code", "owner"]),
                unique=True,
                max_size=4,
            )
        )
        values = {
            "color": draw(st.sampled_from(["#22c55e", "#7C3AED", "#fff", "teal", "not a colour"])),
            "description": draw(_VALUES),
            "code": draw(st.from_regex(r"[A-Z_]{1,10}", fullmatch=True)),
            "owner": draw(_VALUES),
        }
        outcomes.append(
            Outcome(id=oid, label=draw(_TEXT), fields=tuple((f, values[f]) for f in fields))
        )
    headers = (Header("dag", draw(_VALUES)), Header("entry", qids[0]))
    return Tree(headers=headers, questions=tuple(questions), outcomes=tuple(outcomes))


def _paths(tree: Tree) -> Iterator[tuple[dict[str, str], str]]:
    """Every walk from the entry, as (answers, outcome id)."""

    def visit(qid: str, taken: dict[str, str]) -> Iterator[tuple[dict[str, str], str]]:
        question = tree.question(qid)
        assert question is not None
        for answer in question.answers:
            now = {**taken, qid: answer.key}
            if answer.target.is_outcome:
                yield now, answer.target.id
            else:
                yield from visit(answer.target.id, now)

    assert tree.entry is not None
    return visit(tree.entry, {})


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_layout_then_parse_gives_the_same_tree(tree: Tree) -> None:
    text = tree_to_dsl(tree)
    parsed = parse_tree(text)
    assert parsed == tree
    assert parse_tree(text.replace("\n", "\r\n")) == tree
    assert not [d for d in validate_tree(parsed) if d.is_error]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_every_path_walks_to_its_outcome_and_every_edge_is_drawn(tree: Tree) -> None:
    for answers, outcome in itertools.islice(_paths(tree), 40):
        walk = walk_tree(tree, answers)
        assert walk.outcome.id == outcome
        assert [s.question.id for s in walk.steps] == list(answers)
    edges = sum(len(q.answers) for q in tree.questions)
    assert export_tree(tree, "mermaid").count(" -->|") == edges
    assert export_tree(tree, "dot").count(" -> ") == edges
    assert export_tree(tree, "html").count("</script>") == 2


def _check_positions(diagnostics: list[Diagnostic], text: str) -> None:
    lines = text.removeprefix("\ufeff").splitlines()
    assert diagnostics
    for d in diagnostics:
        assert 1 <= d.line <= len(lines) + 1, d
        width = len(lines[d.line - 1]) if d.line <= len(lines) else 0
        assert 1 <= d.col <= width + 1, d


_FRAGMENTS = st.sampled_from(
    [
        "entry: Q1",
        "dag: t",
        "Q1: Ok?",
        "Q2: Next?",
        "  hint: h",
        "  yes -> Q2",
        "  no -> [N]",
        "  A: a -> [Y]",
        "  B: b ->",
        "  C: -> Q9",
        "[Y]: Yes",
        "[N]: No",
        "[N]",
        "  color: #fff",
        "\tcode: X",
        "",
        "# comment",
        "Q1",
        "  ->",
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=200),
        st.lists(st.one_of(_FRAGMENTS, st.text(max_size=12)), max_size=14).map("\n".join),
    )
)
def test_arbitrary_text_fails_only_with_positioned_dsl_errors(text: str) -> None:
    try:
        tree = parse_tree(text, "fuzz.dag")
    except DslSyntaxError as exc:
        assert isinstance(exc, DiagnosticsError)
        _check_positions(exc.diagnostics, text)
        assert exc.render().startswith(f"fuzz.dag:{exc.line}:{exc.col}: error: ")
        return
    diagnostics = validate_tree(tree)
    if diagnostics:
        _check_positions(diagnostics, text)
    if not [d for d in diagnostics if d.is_error]:
        for fmt in ("json", "mermaid", "dot", "html"):
            assert export_tree(tree, fmt)
