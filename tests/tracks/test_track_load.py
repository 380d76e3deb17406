"""Loading onboarding tracks: the seed pack's five tracks, and broken track files reported
at exact places, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tierline.cli.app import app
from tierline.demo.activity import EVENTS
from tierline.errors import PolicyError
from tierline.policy.load import load_project, read_project
from tierline.policy.quantity import parse_completion, parse_offset
from tierline.policy.scaffold import init_project
from tierline.policy.track import Action, Gate, Offset, StallRule, UpgradeRule

PILOT = """\
id: pilot
name: Pilot
level: 6
driver: csm
ttfv_target_days: [3, 10]
completion_target: "70%+"
milestones:
  - id: configured
    when: {first: {event: workspace_configured}}
    due_dys: 3
  - id: imported
    when: {count: {event: data_imported}, at_least: 2}
    due_days: 5
    ttfv: true
  - id: reviewed
    when: {first: {event: report_reviewed}}
    due_days: 7
    ttfv: true
touchpoints:
  - {id: kickoff, due: "5 bussiness days", task: "Kickoff"}
  - {id: plan, due: "2 days", after: review, task: "Plan"}
  - {id: review, due: "1 week", after: plan, task: "Review"}
upgrade: {missed: reviewd, after_days: 30, to: next}
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    return root


def _errors(root: Path) -> list[tuple[str, int, int, str, str | None]]:
    reading = read_project(root)
    return [(Path(d.path).name, d.line, d.col, d.message, d.hint) for d in reading.errors]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_seed_pack_has_the_five_tracks_of_the_seeds(tmp_path: Path) -> None:
    project = load_project(_project(tmp_path))
    assert [(t.id, t.level, t.driver) for t in project.tracks] == [
        ("self_serve", 1, "product"),
        ("tech_touch", 2, "product"),
        ("guided", 3, "csm"),
        ("high_touch", 4, "csm"),
        ("enterprise_ps", 5, "professional_services"),
    ]
    targets = {t.id: (t.ttfv_target_days, t.completion_target) for t in project.tracks}
    assert targets["self_serve"] == ((1, 7), (0.40, 0.60))
    assert targets["tech_touch"] == ((7, 14), (0.65, 0.80))
    assert targets["high_touch"] == ((14, 21), (0.85, 1.0))
    for track in project.tracks:
        assert 3 <= len(track.milestones) <= 5
        assert [m.id for m in track.milestones if m.ttfv] == ["first_value"]
        assert {m.gate.event for m in track.milestones} <= set(EVENTS)  # the demo activates
        assert track.path.endswith(f"tracks/{track.id}.yaml")
    # Every track a CSM watches stalls after 14 days without milestone progress.
    stall = StallRule(14, Action("task", "csm", template="stall_outreach"))
    assert {t.id: t.stall for t in project.tracks if t.stall} == {
        t: stall for t in ("tech_touch", "guided", "high_touch", "enterprise_ps")
    }

    self_serve = project.track("self_serve")
    assert self_serve is not None and self_serve.ttfv_milestone is not None
    assert self_serve.ttfv_milestone.gate == Gate("first", "report_reviewed")
    touch = {tp.id: tp for tp in self_serve.touchpoints}
    assert touch["welcome_email"].due == Offset(24, "hours")
    assert touch["welcome_email"].action == Action("email", "champion", "self_serve_welcome")
    assert touch["orientation_call"].optional and touch["orientation_call"].due == Offset(
        2, "weeks"
    )
    outreach = touch["missing_milestones_outreach"]
    assert outreach.due == Offset(14, "days") and outreach.action.to == "csm"
    assert outreach.unless == ("workspace_configured", "first_value", "core_workflow")
    assert self_serve.upgrade == UpgradeRule("first_value", 14, "tech_touch", True)

    tech = project.track("tech_touch")
    assert tech is not None and tech.upgrade == UpgradeRule("first_value", 30, "next", True)

    guided = project.track("guided")
    assert guided is not None
    kickoff, checkin = guided.touchpoints
    assert (kickoff.id, kickoff.due, kickoff.after) == (
        "kickoff",
        Offset(5, "business_days"),
        "start",
    )
    assert kickoff.action.kind == "task" and kickoff.action.to == "csm"
    assert "draft success plan" in (kickoff.action.text or "")
    assert (checkin.every, checkin.after, checkin.until, checkin.for_) == (
        Offset(2, "weeks"), "kickoff", "all milestones", Offset(90, "days"),
    )  # fmt: skip
    gate = guided.milestone("workflow_by_3_users").gate
    assert (gate.kind, gate.event, gate.at_least) == ("distinct_users", "workflow_completed", 3)
    assert guided.upgrade is not None and guided.upgrade.to == "next"

    high = project.track("high_touch")
    assert high is not None and high.graduate is not None
    plan = next(tp for tp in high.touchpoints if tp.id == "implementation_plan")
    assert (plan.due, plan.after) == (Offset(5, "business_days"), "kickoff")
    steering = next(tp for tp in high.touchpoints if tp.id == "steering")
    assert (steering.every, steering.until) == (Offset(1, "weeks"), "all milestones")
    assert high.graduate.when is not None
    assert high.graduate.when.sql == "usage_change_30d >= 0 AND active_users_30d >= 3"
    assert (high.graduate.to, high.graduate.approval) == ("previous", "manager")
    assert high.upgrade is None

    enterprise = project.track("enterprise_ps")
    assert enterprise is not None and enterprise.upgrade is None
    assert {"ps_engagement", "implementation_workbook", "executive_alignment"} <= {
        tp.id for tp in enterprise.touchpoints
    }

    tier = project.segmentation("onboarding_tier")
    assert tier is not None
    assert dict(tier.tracks) == {
        "HIGH_TOUCH": "high_touch",
        "TECH_TOUCH": "tech_touch",
        "SELF_SERVE": "self_serve",
    }


def test_lint_on_the_seed_project_passes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = CliRunner().invoke(app, ["lint", "--project", str(root)])
    assert result.exit_code == 0, result.output
    assert "lint ok: 0 errors" in result.output


def test_broken_track_files_report_every_problem_at_once(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "tracks" / "pilot.yaml").write_text(PILOT, encoding="utf-8")
    _edit(
        root / "tierline.yaml",
        "SELF_SERVE: self_serve\n      GUIDED",
        "SELF_SERVE: self_serv\n      GUIDED",
    )
    assert _errors(root) == [
        ("tierline.yaml", 30, 19, "unknown track 'self_serv' for outcome SELF_SERVE",
         "did you mean 'self_serve'?"),
        ("pilot.yaml", 8, 5, "missing required key 'due_days'", None),
        ("pilot.yaml", 10, 5, "unknown key 'due_dys'", "did you mean 'due_days'?"),
        ("pilot.yaml", 18, 5,
         "a second TTFV milestone: 'imported' (line 11) is the TTFV milestone already",
         "a track has exactly one `ttfv: true` milestone"),
        ("pilot.yaml", 20, 25, "cannot read due '5 bussiness days' as a time span",
         "write a number and a unit: '5 business days', '2 weeks', '24 hours', '14 days'"),
        ("pilot.yaml", 21, 38, "touchpoints form a cycle: plan → review → plan",
         "one of them must count from `start` or another touchpoint"),
        ("pilot.yaml", 23, 19, "unknown milestone 'reviewd'", "did you mean 'reviewed'?"),
        ("pilot.yaml", 23, 48, "upgrade to: next, but no track has a level higher than 6",
         "name the target track, or drop `upgrade:`"),
    ]  # fmt: skip
    with pytest.raises(PolicyError) as info:
        load_project(root)
    text = str(info.value)
    pilot = (root / "tracks" / "pilot.yaml").as_posix()
    assert f"{pilot}:20:25: error: cannot read due '5 bussiness days' as a time span" in text
    assert '   20 |   - {id: kickoff, due: "5 bussiness days", task: "Kickoff"}' in text
    assert "      |                         " + "^" * 16 + "\n" in text


def test_touchpoint_schedules_anchors_and_actions_are_checked(tmp_path: Path) -> None:
    root = _project(tmp_path)
    guided = root / "tracks" / "guided.yaml"
    _edit(guided, '    due: "5 business days"\n', '    due: "5 business days"\n    fro: "1 day"\n')
    _edit(
        guided,
        "  - id: kickoff\n",
        "  - id: intro\n    every: 2 days\n    after: checkin\n    unless: first_vlue\n"
        "    action: {email: {to: champion}}\n  - id: kickoff\n",
    )
    assert _errors(root) == [
        ("guided.yaml", 41, 5, "touchpoint 'intro' repeats forever",
         'bound it with `until: "all milestones"`, a milestone, or `for: "90 days"`'),
        ("guided.yaml", 42, 12, "touchpoint 'checkin' repeats; `after:` needs a one-off "
         "touchpoint (`due:`) to count from", None),
        ("guided.yaml", 43, 13, "unknown milestone 'first_vlue'", "did you mean 'first_value'?"),
        ("guided.yaml", 44, 21, "the email needs `text:` or `template:`", None),
        ("guided.yaml", 47, 5, "unknown key 'fro'", "did you mean 'for'?"),
    ]  # fmt: skip


def test_targets_gates_and_the_ladder_are_checked(tmp_path: Path) -> None:
    root = _project(tmp_path)
    tech = root / "tracks" / "tech_touch.yaml"
    _edit(tech, "ttfv_target_days: [7, 14]", "ttfv_target_days: [14, 7]")
    _edit(tech, "completion_target: [0.65, 0.80]", "completion_target: [65, 80]")
    _edit(tech, "{first: {event: data_imported}}", "{count: {event: data_imported}}")
    _edit(tech, "{first: {event: workflow_completed}}",
          "{first: {event: step_completed, properties: {step: [3]}}}")  # fmt: skip
    _edit(root / "tracks" / "enterprise_ps.yaml", "level: 5", "level: 2")
    _edit(root / "tracks" / "self_serve.yaml", "to: tech_touch", "to: tech_tuch")
    _edit(root / "tracks" / "guided.yaml", "to: next", "to: self_serve")
    assert _errors(root) == [
        ("guided.yaml", 61, 52, "upgrade goes to a higher level, but 'self_serve' has level 1 "
         "(this track: 3)", None),
        ("self_serve.yaml", 76, 52, "unknown track 'tech_tuch'", "did you mean 'tech_touch'?"),
        ("tech_touch.yaml", 13, 8, "level 2 is the level of track 'enterprise_ps' already",
         "each track has its own touch level: upgrades go to the next higher one"),
        ("tech_touch.yaml", 16, 19, "ttfv_target_days [14, 7]: need 0 <= lo <= hi", None),
        ("tech_touch.yaml", 17, 20, "cannot read completion_target [65, 80] as shares",
         "write [0.65, 0.80], ['65%', '80%'], '65-80%' or '85%+' (85% or more)"),
        ("tech_touch.yaml", 28, 11, "`count:` needs `at_least: N`",
         "e.g. {count: {event: data_imported}, at_least: 3}"),
        ("tech_touch.yaml", 32, 62,
         "property 'step' must be a single value (text or number) to match", None),
    ]  # fmt: skip


def test_graduation_condition_reads_fields_and_metrics(tmp_path: Path) -> None:
    root = _project(tmp_path)
    high = root / "tracks" / "high_touch.yaml"
    _edit(high, "AND usage_change_30d >= 0", "AND usage_chnge_30d >= 0 AND acv > 1")
    assert _errors(root) == [
        ("high_touch.yaml", 96, 29, "unknown name 'usage_chnge_30d'",
         "did you mean 'usage_change_30d'?"),
    ]  # fmt: skip
    # A broken metrics.yaml is reported once; the names it declares still count.
    metrics = root / "metrics.yaml"
    _edit(metrics, "{distinct_users: {}, window: 30d}", "{distinct_users: {}, windw: 30d}")
    _edit(high, "usage_chnge_30d", "usage_change_30d")
    assert [(name, line, hint) for name, line, _, _, hint in _errors(root)] == [
        ("metrics.yaml", 14, "did you mean 'window'?")
    ]


def test_milestone_gates_with_properties_and_a_count_warning(tmp_path: Path) -> None:
    root = _project(tmp_path)
    tech = root / "tracks" / "tech_touch.yaml"
    _edit(
        tech,
        "{first: {event: workflow_completed}}",
        "{count: {event: step_completed, properties: {step: 3, done: true}}, at_least: 2}",
    )
    text = tech.read_text(encoding="utf-8")
    start = text.index("  - id: workspace_configured")
    end = text.index("  - id: first_workflow")
    tech.write_text(text[:start] + text[end:], encoding="utf-8")
    reading = read_project(root)
    assert reading.errors == ()
    found = [(d.line, d.message) for d in reading.diagnostics if "tech_touch" in d.path]
    assert found == [(21, "2 milestones; a track is best organised around 3–5 outcome-based gates")]
    project = load_project(root)
    track = project.track("tech_touch")
    assert track is not None
    assert track.milestone("first_workflow").gate == Gate(
        "count", "step_completed", 2, (("step", "3"), ("done", "true"))
    )


def test_a_segmentation_naming_tracks_needs_track_files(tmp_path: Path) -> None:
    root = _project(tmp_path)
    for path in (root / "tracks").glob("*.yaml"):
        path.unlink()
    found = [e for e in _errors(root) if "for outcome" in e[3]]
    assert found[0] == (
        "tierline.yaml", 30, 19, "unknown track 'self_serve' for outcome SELF_SERVE",
        "define it in tracks/self_serve.yaml (id: self_serve)",
    )  # fmt: skip
    assert len(found) == 7  # four outcomes of the tree, three of the tier table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 business days", (5, "business_days")),
        ("1 business day", (1, "business_days")),
        ("24 hours", (24, "hours")),
        ("1 hour", (1, "hours")),
        ("14 days", (14, "days")),
        ("2 Weeks", (2, "weeks")),
        ("1 week", (1, "weeks")),
        ("two weeks", None),
        ("5", None),
        ("5 fortnights", None),
        ("-1 days", None),
    ],
)
def test_offsets_parse_numbers_with_units(text: str, expected: object) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([0.65, 0.80], (0.65, 0.80)),
        (["65%", "80%"], (0.65, 0.80)),
        ([0.4, "60%"], (0.40, 0.60)),
        ("85%+", (0.85, 1.0)),
        ("40-60%", (0.40, 0.60)),
        ("65–80%", (0.65, 0.80)),
        ([65, 80], None),
        ("85%", None),
        (0.85, None),
        ([0.5], None),
        ("150%+", None),
    ],
)
def test_completion_targets_read_fractions_and_percentages(value: object, expected: object) -> None:
    assert parse_completion(value) == expected
