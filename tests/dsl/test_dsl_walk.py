"""``tierline tree walk`` and ``tierline tree ask`` on the seed tree and other shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tierline.cli.app import app
from tierline.dsl import WalkError, ask_tree, load_tree, parse_tree, walk_tree
from tierline.dsl.walk import match_answers
from tierline.errors import TierlineError, UsageError

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "dsl"
SEED = ROOT / "src" / "tierline" / "packs" / "seed" / "trees" / "onboarding-track.dag"
SHARED = GOLDEN / "shared-subquestion.dag"
FIVE = GOLDEN / "five-answers.dag"
CRLF = GOLDEN / "crlf-tabs.dag"

runner = CliRunner()


def _walk(path: Path, *answers: str, as_json: bool = True) -> Any:
    args = ["tree", "walk", str(path)]
    for a in answers:
        args += ["--answer", a]
    result = runner.invoke(app, [*args, "--json"] if as_json else args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, dict)
    return data


def _walk_error(path: Path, *answers: str) -> TierlineError:
    args = ["tree", "walk", str(path)]
    for a in answers:
        args += ["--answer", a]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, TierlineError)
    return result.exception


def test_walk_json_on_the_seed_is_exactly_the_documented_shape() -> None:
    data = _walk(SEED, "Q1=B", "Q2=yes", "Q3=yes", "Q4=no")
    assert data == {
        "path": [
            {"question": "Q1", "answer": "B", "label": "$10,000 – $75,000"},
            {"question": "Q2", "answer": "yes", "label": "yes"},
            {"question": "Q3", "answer": "yes", "label": "yes"},
            {"question": "Q4", "answer": "no", "label": "no"},
        ],
        "outcome": {
            "id": "HIGH_TOUCH",
            "label": "High-Touch Implementation",
            "code": "CS_OB_HIGH_TOUCH",
        },
    }


@pytest.mark.parametrize(
    ("answers", "outcome"),
    [
        (["Q1=A"], "SELF_SERVE"),
        (["Q1=b", "Q2=NO"], "GUIDED_ONBOARDING"),
        (["Q1=C", "Q3=no"], "GUIDED_ONBOARDING"),
        (["Q1=above", "Q3=y", "Q4=yes"], "ENTERPRISE_PS"),
        (["Q1=under $10,000"], "SELF_SERVE"),
    ],
)
def test_walk_reaches_every_seed_outcome(answers: list[str], outcome: str) -> None:
    data = _walk(SEED, *answers)
    assert data["outcome"] == {
        "id": outcome,
        "label": load_tree(SEED).outcome(outcome).label,
        "code": f"CS_OB_{outcome.removesuffix('_ONBOARDING')}",
    }


def test_walk_text_prints_path_and_outcome() -> None:
    result = runner.invoke(app, ["tree", "walk", str(SEED), "-a", "Q1=A"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[:3] == [
        "Q1: What is the customer's annual contract value (ACV)?",
        "  -> A: Under $10,000",
        "outcome: [SELF_SERVE] Self-Serve Onboarding",
    ]
    assert "  code: CS_OB_SELF_SERVE" in lines


def test_walk_errors_list_the_valid_answers() -> None:
    stopped = _walk_error(SEED, "Q1=B", "Q2=yes")
    assert isinstance(stopped, WalkError)
    assert "stops at Q3" in str(stopped)
    assert str(stopped).endswith("valid answers: yes, no")
    unknown = str(_walk_error(SEED, "Q1=D"))
    assert "'D' is not an answer of Q1" in unknown
    assert "valid answers: A (Under $10,000), B ($10,000 – $75,000), C (Above $75,000)" in unknown
    empty = str(_walk_error(SEED))
    assert "stops at Q1" in empty and "A (Under $10,000)" in empty
    off_path = str(_walk_error(SEED, "Q1=A", "Q2=yes", "Q4=no"))
    assert "not on the path (Q1 -> [SELF_SERVE]): Q2, Q4" in off_path
    assert "did you mean 'Q1'?" in str(_walk_error(SEED, "q1=A"))
    assert "expects QUESTION=ANSWER" in str(_walk_error(SEED, "Q1"))
    assert "given twice" in str(_walk_error(SEED, "Q1=A", "Q1=B"))


def test_walk_error_exits_1_with_message_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    from tierline.cli import main

    with pytest.raises(SystemExit) as info:
        main(["tree", "walk", str(SEED), "--answer", "Q1=Z"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "valid answers: A (Under $10,000)" in err
    assert "Traceback" not in err


def test_ambiguous_prefix_is_an_error() -> None:
    tree = parse_tree(
        "entry: Q\n\nQ: Size?\n  A: Small -> [S]\n  B: Smaller still -> [T]\n"
        "  C: Large -> [S]\n[S]: S\n[T]: T\n"
    )
    question = tree.questions[0]
    assert [a.key for a in match_answers(question, "small")] == ["A"]  # whole label wins
    assert [a.key for a in match_answers(question, "sma")] == ["A", "B"]
    assert [a.key for a in match_answers(question, "c")] == ["C"]  # key wins over prefix
    with pytest.raises(WalkError, match="'sma' is ambiguous"):
        walk_tree(tree, {"Q": "sma"})


def test_walk_shared_subquestion_from_both_parents() -> None:
    via_annual = _walk(SHARED, "START=yes", "ANNUAL=B", "SLA=no")
    via_monthly = _walk(SHARED, "START=no", "MONTHLY=yes", "SLA=yes")
    assert [s["question"] for s in via_annual["path"]] == ["START", "ANNUAL", "SLA"]
    assert via_annual["outcome"] == {"id": "STANDARD", "label": "Standard support", "code": None}
    assert via_monthly["outcome"] == {
        "id": "PREMIUM",
        "label": "Premium support",
        "code": "SUP_PREMIUM",
    }
    # An answer for the parent not taken is off the path.
    assert "not on the path" in str(
        _walk_error(SHARED, "START=no", "MONTHLY=yes", "SLA=no", "ANNUAL=A")
    )


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("A", "TINY"), ("b", "SMALL"), ("C", "MID"), ("d", "LARGE"), ("E", "HUGE")],
)
def test_walk_five_answers_without_hint(answer: str, outcome: str) -> None:
    data = _walk(FIVE, f"Q1={answer}")
    assert data["outcome"]["id"] == outcome
    assert data["outcome"]["code"] == ("STRATEGIC" if outcome == "HUGE" else None)


def test_walk_crlf_tabs_tree() -> None:
    data = _walk(CRLF, "Q1=yes", "Q2=okta")
    assert data["path"][1] == {"question": "Q2", "answer": "A", "label": "Okta — SAML"}
    assert data["outcome"] == {"id": "OKTA", "label": "Okta SSO", "code": None}


def test_walk_of_an_invalid_tree_reports_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dag"
    bad.write_text("entry: Q1\n\nQ1: Ok?\n  yes -> [YES]\n  no -> Q9\n\n[YES]: Yes\n")
    result = runner.invoke(app, ["tree", "walk", str(bad), "-a", "Q1=yes"])
    assert result.exit_code == 1
    assert "bad.dag:5:" in str(result.exception)


def test_ask_on_stdin_with_prefix_back_and_retry() -> None:
    result = runner.invoke(app, ["tree", "ask", str(SEED)], input="b\nback\nnope\n$10\nY\nyes\nN\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "hint: Contract value is the primary proxy" in out
    assert "  A) Under $10,000" in out
    assert "'nope' is not an answer; choose one of: A (Under $10,000)" in out
    assert "path: Q1=B > Q2=yes > Q3=yes" in out
    assert out.rstrip().endswith("code: CS_OB_HIGH_TOUCH")
    assert "outcome: [HIGH_TOUCH] High-Touch Implementation" in out
    # 'back' showed Q1 again: its text appears three times (first, after back, in the summary).
    assert out.count("Q1: What is the customer's annual contract value (ACV)?") == 3


def test_ask_reprompts_on_ambiguous_prefix_and_quits() -> None:
    result = runner.invoke(app, ["tree", "ask", str(FIVE)], input="$1\nquit\n")
    assert result.exit_code == 0
    assert "'$1' is ambiguous; choose one of: B ($10K-50K), D ($100K-1M)" in result.output
    assert "stopped at Q1; no outcome." in result.output
    assert "hint:" not in result.output


def test_ask_back_at_the_start_and_shared_subquestion() -> None:
    result = runner.invoke(
        app, ["tree", "ask", str(SHARED)], input="back\nno\nyes\nback\nYES\nno\n"
    )
    assert result.exit_code == 0, result.output
    assert "already at the first question." in result.output
    assert "outcome: [STANDARD] Standard support" in result.output
    assert "path: START=no > MONTHLY=yes" in result.output


def test_ask_end_of_input_before_an_outcome_is_an_error() -> None:
    result = runner.invoke(app, ["tree", "ask", str(CRLF)], input="yes\n")
    assert result.exit_code == 1
    assert isinstance(result.exception, WalkError)
    assert isinstance(result.exception, UsageError)
    message = str(result.exception)
    assert message == (
        "input ended at Q2 before an outcome was reached; "
        "valid answers: A (Okta — SAML), B (Azure AD)"
    )


def test_ask_tree_function_with_scripted_input() -> None:
    tree = load_tree(CRLF)
    answers = iter(["yes", "azure"])
    shown: list[str] = []
    walk = ask_tree(tree, lambda _prompt: next(answers, None), shown.append)
    assert walk is not None
    assert walk.outcome.id == "AZURE"
    assert [s.answer.key for s in walk.steps] == ["yes", "B"]
    assert any("Q2: Which IdP – Okta or Azure?" in s for s in shown)
