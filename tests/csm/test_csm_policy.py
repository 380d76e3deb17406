"""The ``csm_assignment`` section of tierline.yaml: the seed pack's, and broken ones."""

from __future__ import annotations

from pathlib import Path

from tierline.policy.load import load_project, read_project
from tierline.policy.scaffold import init_project
from tierline.policy.staffing import CsmAssignment, CsmPool

SECTION = "csm_assignment:"


def _project(tmp_path: Path, section: str | None) -> Path:
    """The seed pack with its csm_assignment section replaced (None: removed)."""
    root = tmp_path / "proj"
    init_project(root)
    path = root / "tierline.yaml"
    text = path.read_text(encoding="utf-8")
    head = text[: text.index(SECTION)]
    path.write_text(head + (section or ""), encoding="utf-8")
    return root


def _errors(root: Path) -> list[tuple[int, int, str, str | None]]:
    reading = read_project(root)
    assert reading.project is None
    return [(d.line, d.col, d.message, d.hint) for d in reading.errors]


def _line(root: Path, text: str) -> int:
    lines = (root / "tierline.yaml").read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_the_seed_pack_routes_pools_of_the_demo_roster(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    init_project(root)
    policy = load_project(root).csm_assignment
    assert policy is not None
    assert policy.strategy == "least_accounts"
    assert policy.band_segmentation == "value_band"
    assert [(p.id, p.tracks, p.value_bands, p.band_capacity) for p in policy.pools] == [
        ("self_service", ("self_serve", "tech_touch"), (), None),
        ("high_touch", (), ("HIGH_TOUCH",), 25),
        ("medium_touch", (), ("MEDIUM_TOUCH",), 50),
        ("light_touch", (), ("LIGHT_TOUCH", "SELF_SERVICE"), 80),
    ]
    # The pool ids are the demo roster's pools.
    from tierline.demo.accounts import POOLS

    assert {p.id for p in policy.pools} == {name for name, *_ in POOLS}


def test_the_section_is_optional(tmp_path: Path) -> None:
    root = _project(tmp_path, None)
    assert load_project(root).csm_assignment is None


def test_a_valid_section_with_levels_and_band_capacity(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """csm_assignment:
  strategy: round_robin
  pools:
    - {id: enterprise, levels: [4, 5], value_bands: [HIGH_TOUCH, MEDIUM_TOUCH],
       capacity_from: value_band}
    - {id: rest}
""",
    )
    policy = load_project(root).csm_assignment
    assert policy == CsmAssignment(
        pools=(
            CsmPool(
                "enterprise",
                levels=(4, 5),
                value_bands=("HIGH_TOUCH", "MEDIUM_TOUCH"),
                capacity_from="value_band",
                band_capacity=25,
            ),
            CsmPool("rest"),
        ),
        strategy="round_robin",
    )
    assert policy.pool("rest") == CsmPool("rest")
    assert policy.pool("nope") is None


def test_every_problem_of_the_section_is_reported_at_its_place(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """csm_assignment:
  strategy: least_accounts
  pools:
    - {id: a, tracks: [guidd, high_touch], value_bands: [HIGH_TUCH]}
    - {id: b, levels: [9], tracks: [guided]}
    - {id: a, value_bands: [LIGHT_TOUCH]}
    - {id: c, capacity_from: value_band}
    - {id: d, tracks: []}
""",
    )
    found = _errors(root)
    first = _line(root, "{id: a, tracks")
    assert (first, 24, "unknown track 'guidd'", "did you mean 'guided'?") in found
    bands = "SELF_SERVICE, LIGHT_TOUCH, MEDIUM_TOUCH, HIGH_TOUCH"
    band_error = f"unknown value band 'HIGH_TUCH'; the bands are {bands}"
    assert (first, 58, band_error, "did you mean 'HIGH_TOUCH'?") in found
    second = first + 1
    messages = [m for _, _, m, _ in found]
    assert "a pool takes `tracks:` or `levels:`, not both" in messages
    assert "no track has level 9 (the levels are 1, 2, 3, 4, 5)" in messages
    assert any(line == second and "level 9" in m for line, _, m, _ in found)
    assert any(
        line == first + 2 and m == f"pool 'a' is listed already (line {first})"
        for line, _, m, _ in found
    )
    assert "capacity_from: value_band needs the pool's `value_bands:`" in messages
    assert "empty `tracks:` list" in messages
    assert len(found) == 7


def test_shape_errors_name_the_allowed_words(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """csm_assignment:
  strategy: fewest_accounts
  pools:
    - {id: a, capacity: 5}
""",
    )
    found = _errors(root)
    assert len(found) == 2
    text = " ".join(m + " " + (h or "") for _, _, m, h in found)
    assert "least_accounts" in text
    assert "capacity" in text


def test_an_unknown_band_segmentation(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """csm_assignment:
  band_segmentation: value_bands
  pools:
    - {id: a, value_bands: [HIGH_TOUCH]}
""",
    )
    ((line, col, message, hint),) = _errors(root)
    assert (line, col) == (_line(root, "band_segmentation:"), 22)
    assert message == "csm_assignment: unknown band segmentation 'value_bands'"
    assert hint == "did you mean 'value_band'?"


def test_a_band_segmentation_must_be_a_rule_table(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """csm_assignment:
  band_segmentation: onboarding_track
  pools:
    - {id: a, value_bands: [HIGH_TOUCH]}
""",
    )
    ((_, _, message, _),) = _errors(root)
    assert "must be a rule table" in message


def test_capacity_from_value_band_needs_the_ratio_meta(tmp_path: Path) -> None:
    root = _project(
        tmp_path,
        """csm_assignment:
  band_segmentation: onboarding_tier
  pools:
    - {id: a, value_bands: [TECH_TOUCH], capacity_from: value_band}
    - {id: b, value_bands: [SELF_SERVE]}
""",
    )
    ((_, _, message, hint),) = _errors(root)
    assert message == "value band 'TECH_TOUCH' declares no `accounts_per_csm: [min, max]` meta"
    assert hint == "add it to the band's rule, or use capacity_from: roster"
