"""Loading policy projects: the seed pack, and broken projects reported at exact places."""

from __future__ import annotations

from pathlib import Path

import pytest

import tierline.policy
from tierline.errors import PolicyError, UsageError
from tierline.policy.load import find_project, load_project, read_project
from tierline.policy.scaffold import init_project, seed_pack_files

SEED = Path(__file__).resolve().parents[2] / "src" / "tierline" / "packs" / "seed"

BROKEN_PROJECT = """\
name: broken
timezone: America/New_Yrok
segmentaions: {}
fields:
  technical_team: boolean
  needs_integration: boolean
  seats_used: integr
segmentations:
  onboarding_track:
    tree: trees/onboarding-track.dag
    bindings:
      Q1: {field: acv}
      Q2: {field: technical_team, null: "maybe"}
      Q3: {when: "needs_integraton OR seats_used > 3"}
      Q4: {when: "acv > 150000"}
      Q7: {field: acv}
  missing_tree:
    tree: trees/onboarding-trak.dag
  tier:
    rules: rules/tier.yaml
"""

BROKEN_TABLE = """\
id: tier
hit: frist
rules:
  - id: big
    then: HIGH
    any: ["acv >= 25000", "stakeholdrs >= 3"]
  - id: big
    then: LOW
    all: "acv < 5000"
    whn: "acv < 1"
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    init_project(root)
    return root


def _broken(tmp_path: Path) -> Path:
    root = _project(tmp_path)
    (root / "tierline.yaml").write_text(BROKEN_PROJECT, encoding="utf-8")
    (root / "rules" / "tier.yaml").write_text(BROKEN_TABLE, encoding="utf-8")
    return root


def test_seed_pack_loads_without_any_diagnostic(tmp_path: Path) -> None:
    root = _project(tmp_path)
    reading = read_project(root)
    assert reading.diagnostics == ()
    project = load_project(root)
    assert project.name == "acme-cs"
    assert project.timezone == "America/New_York"
    assert project.store_path == str(root.resolve() / ".tierline" / "tierline.duckdb")
    assert [s.id for s in project.segmentations] == [
        "onboarding_track",
        "onboarding_tier",
        "value_band",
    ]
    custom = {f.name: f.type for f in project.custom_fields}
    assert custom == {
        "technical_team": "boolean",
        "needs_integration": "boolean",
        "needs_migration": "boolean",
        "custom_config": "boolean",
        "needs_configuration": "boolean",
        "config_hours": "number",
        "expected_users": "integer",
        "stakeholders": "integer",
    }
    track = project.segmentation("onboarding_track")
    assert track is not None and track.kind == "tree" and track.tree is not None
    assert track.tree_path == "trees/onboarding-track.dag"
    q2, q3 = track.binding("Q2"), track.binding("Q3")
    assert q2 is not None and q2.field == "technical_team" and q2.null == "no"
    assert q3 is not None and q3.when is not None and q3.null == "no"
    assert q3.when.sql == "needs_integration OR needs_migration OR custom_config"
    assert dict(track.tracks)["GUIDED_ONBOARDING"] == "guided"
    tier = project.segmentation("onboarding_tier")
    assert tier is not None and tier.table is not None
    assert tier.table.hit == "first" and tier.table.default is None
    assert tier.outcomes == ("HIGH_TOUCH", "TECH_TOUCH", "SELF_SERVE")
    assert [c.sql for c in tier.table.rules[2].all] == [
        "acv < 5000",
        "NOT needs_configuration",
        "NOT needs_integration",
    ]
    bands = project.segmentation("value_band")
    assert bands is not None and bands.table is not None and bands.table.hit == "unique"
    top = bands.table.rules[-1]
    assert (top.id, top.then) == ("band_100k_plus", "HIGH_TOUCH")
    assert dict(top.meta)["accounts_per_csm"] == (15, 25)
    assert len(project.version) == 12 and "tierline.yaml" in project.files
    assert tierline.policy.load_project(root) == project


def test_init_copies_the_seed_tree_byte_for_byte(tmp_path: Path) -> None:
    root = _project(tmp_path)
    dag = "trees/onboarding-track.dag"
    assert (root / dag).read_bytes() == (SEED / dag).read_bytes()
    assert dict(seed_pack_files())[dag] == (SEED / dag).read_bytes()
    for folder in ("tracks", "triggers", "templates"):
        assert (root / folder / "README.md").is_file()


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "notes.txt").write_text("mine\n", encoding="utf-8")
    with pytest.raises(UsageError, match="not empty"):
        init_project(root)
    written = init_project(root, force=True)
    assert root / "tierline.yaml" in written
    assert (root / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    with pytest.raises(UsageError, match="not a folder"):
        init_project(root / "notes.txt")


def test_broken_project_reports_every_problem_of_every_file_at_once(tmp_path: Path) -> None:
    root = _broken(tmp_path)
    reading = read_project(root)
    assert reading.project is None
    p, r = f"{root.as_posix()}/tierline.yaml", f"{root.as_posix()}/rules/tier.yaml"
    found = [(d.path, d.line, d.col, d.message, d.hint) for d in reading.diagnostics]
    assert found == [
        (p, 2, 11, "unknown timezone 'America/New_Yrok'", "did you mean 'America/New_York'?"),
        (p, 3, 1, "unknown key 'segmentaions'", "did you mean 'segmentations'?"),
        (
            p, 7, 15,
            "invalid 'seats_used': the string 'integr'; expected one of boolean, integer, "
            "number, string, date, timestamp",
            "did you mean 'integer'?",
        ),
        (p, 13, 42, "Q2 has no answer 'maybe'; its answers are yes, no", None),
        (p, 14, 19, "unknown name 'needs_integraton'", "did you mean 'needs_integration'?"),
        (
            p, 16, 7, "question 'Q7' is not in trees/onboarding-track.dag",
            "its questions are Q1, Q2, Q3, Q4",
        ),
        (
            p, 18, 11, "tree file 'trees/onboarding-trak.dag' not found",
            "did you mean 'trees/onboarding-track.dag'?",
        ),
        (
            r, 2, 6,
            "invalid 'hit': the string 'frist'; expected one of first, unique, any, collect, "
            "priority",
            "did you mean 'first'?",
        ),
        (r, 6, 28, "unknown name 'stakeholdrs'", None),
        (r, 9, 10, "'all' must be a list, not the string 'acv < 5000'", None),
        (r, 10, 5, "unknown key 'whn'", "did you mean 'when'?"),
    ]  # fmt: skip
    with pytest.raises(PolicyError) as info:
        load_project(root)
    text = str(info.value)
    assert f"{p}:14:19: error: unknown name 'needs_integraton'" in text
    assert '   14 |       Q3: {when: "needs_integraton OR seats_used > 3"}' in text
    assert "      |                   ^^^^^^^^^^^^^^^^\n" in text
    assert f"{r}:10:5: error: unknown key 'whn'" in text


def test_names_that_tie_files_together_are_checked(tmp_path: Path) -> None:
    root = _project(tmp_path)
    text = (root / "tierline.yaml").read_text(encoding="utf-8")
    text = text.replace('Q4: {when: "acv > 150000 OR expected_users > 200"}', "")
    text = text.replace("SELF_SERVE: self_serve", "SELF_SERV: self_serve")
    text = text.replace("{field: acv}", "{field: acvv}")
    (root / "tierline.yaml").write_text(text, encoding="utf-8")
    table = (root / "rules" / "value-bands.yaml").read_text(encoding="utf-8")
    table = table.replace("id: band_50k_100k", "id: band_10k_50k")
    table = table.replace("then: MEDIUM_TOUCH", "then: MEDIUM TOUCH")
    (root / "rules" / "value-bands.yaml").write_text(table, encoding="utf-8")
    reading = read_project(root)
    messages = {
        (Path(d.path).name, d.line, d.col): (d.message, d.hint) for d in reading.diagnostics
    }
    assert messages[("tierline.yaml", 25, 19)] == ("unknown field 'acvv'", "did you mean 'acv'?")
    assert messages[("tierline.yaml", 24, 5)][0] == (
        "segmentation 'onboarding_track': question Q4 of trees/onboarding-track.dag has no binding"
    )
    assert messages[("tierline.yaml", 30, 7)][1] == "did you mean 'SELF_SERVE'?"
    assert (
        messages[("value-bands.yaml", 24, 5)][0]
        == "duplicate rule id 'band_10k_50k' (first on line 16)"
    )
    assert messages[("value-bands.yaml", 25, 11)][0].startswith(
        "then 'MEDIUM TOUCH' must be a name"
    )


def test_a_broken_field_type_does_not_cascade_into_unknown_names(tmp_path: Path) -> None:
    root = _project(tmp_path)
    path = root / "tierline.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("expected_users: integer", "expected_users: int"),
        encoding="utf-8",
    )
    reading = read_project(root)
    assert [d.line for d in reading.errors] == [17]
    assert reading.errors[0].hint == "did you mean 'integer'?"


def test_yaml_and_tree_syntax_errors_are_reported_together(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "rules" / "value-bands.yaml").write_text("id: x\nhit: [first\n", encoding="utf-8")
    dag = root / "trees" / "onboarding-track.dag"
    dag.write_text(dag.read_text(encoding="utf-8").replace("-> Q2", "-> Q9"), encoding="utf-8")
    reading = read_project(root)
    by_file = {Path(d.path).name: d for d in reading.errors}
    assert by_file["onboarding-track.dag"].message.startswith("unknown target 'Q9'")
    assert by_file["value-bands.yaml"].message.startswith("invalid YAML")
    assert by_file["value-bands.yaml"].line == 3


def test_version_follows_policy_files_only(tmp_path: Path) -> None:
    root = _project(tmp_path)
    before = load_project(root).version
    (root / ".tierline").mkdir()
    (root / ".tierline" / "tierline.duckdb").write_bytes(b"store bytes")
    (root / "trees" / ".DS_Store").write_bytes(b"x")
    assert load_project(root).version == before
    rules = root / "rules" / "value-bands.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    assert load_project(root).version != before


def test_find_project_walks_up_or_takes_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    assert find_project(root) == root
    deep = root / "rules"
    assert find_project(start=deep).resolve() == root.resolve()
    monkeypatch.chdir(deep)
    assert find_project() == Path("..")
    monkeypatch.chdir(root)
    assert find_project() == Path(".")
    with pytest.raises(UsageError, match="not a tierline project"):
        find_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    if not any((Path(p) / "tierline.yaml").is_file() for p in tmp_path.resolve().parents):
        with pytest.raises(UsageError, match=r"no tierline\.yaml"):
            find_project()


def test_binding_modes_are_checked_against_the_question(tmp_path: Path) -> None:
    root = _project(tmp_path)
    path = root / "tierline.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "Q1: {field: acv}", 'Q1: {answers: {A: "acv < 10000", Z: "acv > 1"}}'
    )
    text = text.replace("Q2: {field: technical_team,", 'Q2: {field: plan, when: "acv > 1",')
    text = text.replace(
        'Q4: {when: "acv > 150000 OR expected_users > 200"}', "Q4: {field: expected_users}"
    )
    path.write_text(text, encoding="utf-8")
    reading = read_project(root)
    found = [(d.line, d.col, d.message) for d in reading.errors]
    assert found == [
        (25, 40, "Q1 has no answer 'Z'; its answers are A, B, C"),
        (26, 7, "binding of Q2 needs exactly one of field, when, answers (it has field, when)"),
        (
            28,
            19,
            "Q4 is bound to integer field 'expected_users', but its answer labels are not "
            "ranges such as 'Under $10,000'",
        ),
    ]


def test_metrics_file_problems_are_part_of_the_project(tmp_path: Path) -> None:
    root = _project(tmp_path)
    metrics = root / "metrics.yaml"
    kept = metrics.read_text(encoding="utf-8")  # the seed tracks read its metrics
    metrics.write_text("logins_30d: {count: {event: login}, windw: 30d}\n" + kept, encoding="utf-8")
    reading = read_project(root)
    assert [(Path(d.path).name, d.line, d.col, d.hint) for d in reading.errors] == [
        ("metrics.yaml", 1, 37, "did you mean 'window'?")
    ]
