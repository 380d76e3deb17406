"""The mutual success plan of an account, as Markdown.

The seeds ask for it on the CSM-led tracks: the guided kickoff comes "prepared with a draft
success plan that includes the customer's stated business goals, key milestones, and a
timeline to first value"; high-touch onboarding "must begin with a mutual success plan
where both parties confirm resource availability and milestone ownership before the
schedule is set" ("proposed milestones, ownership assignments, and TTFV target").

:func:`success_plan` builds it from :func:`tierline.engine.status.account_status` (track,
milestones with due dates and status, TTFV) plus the CSM roster (owners by name), the
account's people, and the touchpoint schedule (``touchpoint_schedule``: the first and next
due time of every touchpoint). Dates are local dates in the account's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tierline.engine.state import utc_naive
from tierline.engine.status import AccountStatus, Csm, account_status, local_time
from tierline.engine.touchpoint import SCHEDULE_TABLE
from tierline.policy.model import Project
from tierline.policy.track import Touchpoint, Track
from tierline.store import Store

__all__ = ["DRIVERS", "PlanInputs", "describe_touchpoint", "render_plan", "success_plan"]

DRIVERS: dict[str, str] = {
    "product": "product-led",
    "csm": "CSM-led",
    "professional_services": "Professional Services with the CSM",
}
_STATUS_WORDS: dict[str, str] = {
    "done_on_time": "done on time",
    "done_late": "done late",
    "on_track": "on track",
    "behind": "behind (past due)",
    "stuck": "stuck (no progress)",
}
_CONTACTS = 5


@dataclass(frozen=True)
class PlanInputs:
    """Everything the plan shows beyond the account status: people and touch dates."""

    status: AccountStatus
    manager: Csm | None
    contacts: tuple[tuple[str, str | None], ...]
    first_due: dict[str, datetime]
    next_due: dict[str, datetime]
    cancelled: frozenset[str]


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _day(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    return f"{local_time(moment, zone):%Y-%m-%d}"


def _person(csm: Csm | None) -> str:
    if csm is None:
        return "not assigned yet"
    name = csm.name or csm.id
    return f"{name} <{csm.email}>" if csm.email else name


def _owner(role: str, csm: Csm | None) -> str:
    if role == "csm":
        return f"{csm.name or csm.id} (CSM)" if csm is not None else "CSM (not assigned yet)"
    if role == "customer":
        return "Customer"
    if role == "champion":
        return "Customer champion"
    return role.replace("_", " ").capitalize()


def describe_touchpoint(tp: Touchpoint) -> str:
    """When a touchpoint happens, in words: ``5 business days after the start`` …"""
    anchor = "the start" if tp.after == "start" else tp.after.replace("_", " ")
    if tp.every is not None:
        text = f"every {tp.every}"
        text += f", first {tp.due} after {anchor}" if tp.due else f" after {anchor}"
    else:
        text = f"{tp.due} after {anchor}"
    if tp.until:
        text += f", until {tp.until.replace('_', ' ')}"
    if tp.for_ is not None:
        text += f", for {tp.for_}"
    if tp.unless:
        text += ", unless " + " and ".join(m.replace("_", " ") for m in tp.unless) + " are done"
    if tp.optional:
        text += " (optional)"
    return text


def _inputs(store: Store, project: Project, account_id: str, as_of: datetime) -> PlanInputs:
    status = account_status(store, project, account_id, as_of)
    con = store.con
    manager: Csm | None = None
    if status.csm is not None and status.csm.manager_id is not None:
        row = con.execute(
            "SELECT id, name, email, manager_id FROM csms WHERE id = ?", [status.csm.manager_id]
        ).fetchone()
        if row is not None:
            manager = Csm(str(row[0]), row[1], row[2], row[3], "roster")
    contacts = tuple(
        (str(email), None if title is None else str(title))
        for email, title in con.execute(
            "SELECT email, title FROM people WHERE account_id = ? AND email IS NOT NULL "
            "AND (created_at IS NULL OR created_at <= CAST(? AS TIMESTAMP)) "
            f"ORDER BY created_at NULLS LAST, id LIMIT {_CONTACTS}",
            [account_id, status.as_of],
        ).fetchall()
    )
    rows = con.execute(
        "SELECT touchpoint_id, "
        "min(due_at) FILTER (WHERE occurrence = 1), "
        "min(due_at) FILTER (WHERE due_at > CAST(? AS TIMESTAMP) AND NOT cancelled), "
        "bool_or(cancelled AND occurrence = 1) "
        f"FROM {SCHEDULE_TABLE} WHERE account_id = ? GROUP BY touchpoint_id",
        [status.as_of, account_id],
    ).fetchall()
    return PlanInputs(
        status=status,
        manager=manager,
        contacts=contacts,
        first_due={str(t): f for t, f, _, _ in rows if isinstance(f, datetime)},
        next_due={str(t): n for t, _, n, _ in rows if isinstance(n, datetime)},
        cancelled=frozenset(str(t) for t, _, _, c in rows if c),
    )


def _ttfv_lines(track: Track, st: AccountStatus) -> list[str]:
    low, high = track.ttfv_target_days
    zone = st.timezone
    start = st.started_at
    lines = [
        f"- **Target:** first value {low}–{high} days after the track start, between "
        f"{_day(start + timedelta(days=low), zone)} and {_day(start + timedelta(days=high), zone)}."
    ]
    milestone = track.ttfv_milestone
    if milestone is not None:
        lines.append(f"- **First-value milestone:** {milestone.title}.")
    if st.ttfv_days is not None:
        verdict = "within" if st.ttfv_verdict == "within" else f"{st.ttfv_verdict} than"
        lines.append(
            f"- **Reached:** {_day(st.ttfv_at, zone)}, after {st.ttfv_days:.1f} days "
            f"({verdict} the target)."
        )
    else:
        verdict = "past the target" if st.ttfv_verdict == "overdue" else "inside the target"
        lines.append(f"- **Reached:** not yet ({verdict} window).")
    c_low, c_high = track.completion_target
    goal = f"{c_low:.0%}+" if c_high >= 1.0 else f"{c_low:.0%}–{c_high:.0%}"
    done = f"{st.completion:.0%}" if st.completion is not None else "—"
    lines.append(
        f"- **Completion target:** {goal}; now {done} "
        f"({st.done} of {len(st.milestones)} milestones)."
    )
    return lines


def render_plan(inputs: PlanInputs) -> str:
    """The Markdown of a plan from its inputs."""
    st = inputs.status
    track, zone, csm = st.track, st.timezone, st.csm
    out: list[str] = [f"# Mutual success plan: {st.name}", ""]
    started = _day(st.started_at, zone)
    if st.onboarding_started_at != st.started_at:
        started += f" ({st.source}; onboarding began {_day(st.onboarding_started_at, zone)})"
    out += [
        "| | |",
        "|---|---|",
        f"| Account | {_cell(st.name)} (`{st.account_id}`) |",
        f"| Track | {_cell(track.name)} (level {track.level}, "
        f"{DRIVERS.get(track.driver, track.driver)}) |",
        f"| Track start | {started} |",
        f"| State | {st.state.replace('_', ' ')} |",
        f"| Time zone | {zone} |",
        f"| Plan as of | {_day(st.as_of, zone)} |",
        "",
    ]
    if track.description:
        out += [f"> {_cell(track.description)}", ""]
    out += ["## Owners", "", f"- **CSM:** {_person(csm)}"]
    if inputs.manager is not None:
        out.append(f"- **CS manager:** {_person(inputs.manager)}")
    if track.driver == "professional_services":
        out.append("- **Professional Services:** the PS engagement lead, with the CSM")
    if inputs.contacts:
        people = ", ".join(
            f"{email} ({title})" if title else email for email, title in inputs.contacts
        )
        out.append(f"- **Customer contacts:** {people}")
    else:
        out.append("- **Customer contacts:** none recorded")
    out.append("")
    if track.driver != "product":
        out += [
            "## Business goals and success criteria",
            "",
            "Stated by the customer and confirmed at the kickoff: the goals from the sales "
            "handoff, the champion and the executive sponsor.",
            "",
        ]
    out += ["## Time to first value", "", *_ttfv_lines(track, st), ""]
    out += [
        "## Milestones",
        "",
        "| # | Milestone | Owner | Due | Status | Reached |",
        "|---|---|---|---|---|---|",
    ]
    for no, m in enumerate(st.milestones, start=1):
        title = _cell(m.title) + (" (first value)" if m.ttfv else "")
        out.append(
            f"| {no} | {title} | {_owner(m.owner, csm)} | {_day(m.due_at, zone)} | "
            f"{_STATUS_WORDS.get(m.status, m.status)} | {_day(m.reached_at, zone)} |"
        )
    out.append("")
    if track.touchpoints:
        out += [
            "## Touchpoint schedule",
            "",
            "| Touchpoint | Owner | When | First due | Next due | What |",
            "|---|---|---|---|---|---|",
        ]
        for tp in track.touchpoints:
            what = tp.action.text or tp.action.template or tp.action.kind
            first = _day(inputs.first_due.get(tp.id), zone)
            if tp.id in inputs.cancelled:
                first += " (not needed)"
            out.append(
                f"| {tp.id.replace('_', ' ').capitalize()} | {_owner(tp.action.to, csm)} | "
                f"{describe_touchpoint(tp)} | {first} | "
                f"{_day(inputs.next_due.get(tp.id), zone)} | {_cell(what)} |"
            )
        out.append("")
    if track.driver != "product":
        out += [
            "## Before the schedule is set",
            "",
            "- [ ] Both parties confirm resource availability and the customer's internal "
            "project owner",
            "- [ ] Both parties confirm the milestone owners above",
            "- [ ] Milestone completion is documented in the CRM at each check-in and "
            "confirmed in writing before the move to the standard engagement cadence",
            "",
        ]
    return "\n".join(out)


def success_plan(store: Store, project: Project, account_id: str, as_of: datetime) -> str:
    """The account's mutual success plan as of ``as_of``, as Markdown."""
    return render_plan(_inputs(store, project, account_id, utc_naive(as_of)))
