"""The demo book generator: deterministic, realistic distributions, consistent references."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from tierline.demo.accounts import ACV_MAX, ACV_MIN, ARCHETYPES, DAYS_BACK, draw_accounts
from tierline.demo.activity import EVENTS
from tierline.demo.book import Book
from tierline.demo.generator import generate_book
from tierline.demo.localtime import Clock
from tierline.errors import UsageError

AS_OF = date(2026, 6, 30)
CUTOFF = datetime(2026, 6, 30)
DATAMODEL_EVENTS = {
    "signed_up",
    "login",
    "workspace_configured",
    "data_imported",
    "integration_connected",
    "workflow_completed",
    "report_generated",
    "report_reviewed",
    "teammate_invited",
    "premium_feature_viewed",
    "plan_limit_reached",
    "feature_used",
    "step_completed",
    "onboarding_step_viewed",
}


@pytest.fixture(scope="module")
def book() -> Book:
    return generate_book(800, 11, AS_OF)


def _sql(book: Book, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    for kind, table in book.tables().items():
        con.register(kind, table)
    rows = con.execute(query).fetchall()
    con.close()
    return rows


def _value(book: Book, query: str) -> float:
    value = _sql(book, query)[0][0]
    assert isinstance(value, int | float)
    return float(value)


def test_same_seed_same_bytes_other_seed_other_book(tmp_path: Path) -> None:
    first = generate_book(150, 5, AS_OF)
    second = generate_book(150, 5, AS_OF)
    assert first.digest() == second.digest()
    a = first.write(tmp_path / "a")
    b = second.write(tmp_path / "b")
    for kind in a:
        assert a[kind].read_bytes() == b[kind].read_bytes(), kind
    other = generate_book(150, 6, AS_OF)
    assert other.digest() != first.digest()
    assert other.accounts.column("acv") != first.accounts.column("acv")


def test_tables_have_the_canonical_columns(book: Book) -> None:
    assert book.accounts.column_names[:12] == [
        "id",
        "name",
        "acv",
        "currency",
        "closed_won_at",
        "contract_start",
        "renewal_date",
        "plan",
        "seats",
        "seat_limit",
        "timezone",
        "csm_id",
    ]
    assert set(book.accounts.column_names[12:]) == {
        "technical_team",
        "needs_integration",
        "needs_migration",
        "custom_config",
        "needs_configuration",
        "config_hours",
        "expected_users",
        "stakeholders",
    }
    assert book.people.column_names == ["id", "account_id", "email", "title", "created_at"]
    assert book.events.column_names == [
        "message_id",
        "account_id",
        "person_id",
        "event",
        "ts",
        "properties",
        "received_at",
    ]
    assert book.arr.column_names == ["account_id", "month", "arr"]
    assert book.csms.schema.field("role").type == pa.string()


def test_acv_is_log_normal_within_bounds(book: Book) -> None:
    acv = np.asarray(book.accounts.column("acv"))
    assert acv.min() >= ACV_MIN and acv.max() <= ACV_MAX
    assert 5_000 <= np.median(acv) <= 16_000
    logs = np.log(acv)
    # Log-normal: the log is roughly symmetric, the value itself strongly right-skewed.
    assert abs(np.mean(logs) - np.median(logs)) < 0.2
    assert np.mean(acv) > 1.5 * np.median(acv)
    assert 0.01 <= np.mean(acv >= 100_000) <= 0.12


def test_custom_fields_grow_with_size(book: Book) -> None:
    by = _sql(
        book,
        "WITH q AS (SELECT ntile(4) OVER (ORDER BY acv) AS quartile, * FROM accounts) "
        "SELECT quartile, avg(technical_team::INT), avg(needs_integration::INT), "
        "avg(needs_migration::INT), avg(stakeholders), avg(config_hours), avg(expected_users) "
        "FROM q GROUP BY 1 ORDER BY 1",
    )
    small, big = by[0], by[-1]
    for column in range(1, 7):
        assert float(str(big[column])) > float(str(small[column])), column
    assert float(str(big[1])) - float(str(small[1])) > 0.3  # technical team
    assert float(str(big[2])) - float(str(small[2])) > 0.3  # integrations
    assert _value(book, "SELECT count(*) FROM accounts WHERE needs_configuration") > 0
    assert (
        _value(
            book, "SELECT count(*) FROM accounts WHERE NOT needs_configuration AND config_hours > 0"
        )
        == 0
    )


def test_closed_won_spread_over_two_years(book: Book) -> None:
    first, last = _sql(book, "SELECT min(closed_won_at), max(closed_won_at) FROM accounts")[0]
    assert isinstance(first, datetime) and isinstance(last, datetime)
    assert last < CUTOFF
    assert (CUTOFF - first).days > 600
    assert (CUTOFF - first).days <= DAYS_BACK + 1


def test_some_accounts_outgrow_their_plan(book: Book) -> None:
    over = _value(book, "SELECT avg((seats > seat_limit)::INT) FROM accounts")
    assert 0.05 < over < 0.4
    assert _value(book, "SELECT count(*) FROM events WHERE event = 'plan_limit_reached'") > 0


def test_every_archetype_is_drawn() -> None:
    rng = np.random.default_rng(1)
    drawn = draw_accounts(rng, 400, Clock.build(AS_OF, DAYS_BACK + 40))
    counts = np.bincount(drawn.archetype, minlength=len(ARCHETYPES))
    assert (counts > 20).all(), dict(zip(ARCHETYPES, counts, strict=True))


def test_activation_curves_show_in_the_events(book: Book) -> None:
    # Some accounts finished onboarding, some stalled part way (and are old enough to have
    # finished), and the activity of some accounts fell off after a peak.
    steps = _sql(
        book,
        "SELECT a.id, max((e.properties->>'step')::INT) AS top, "
        "any_value(a.contract_start) AS start FROM accounts a "
        "JOIN events e ON e.account_id = a.id AND e.event = 'step_completed' GROUP BY 1",
    )
    tops = [int(str(top)) for _, top, _ in steps]
    assert tops.count(5) > 100
    assert (
        sum(
            1
            for _, top, start in steps
            if int(str(top)) < 4 and isinstance(start, date) and (AS_OF - start).days > 120
        )
        > 10
    )
    declined = _value(
        book,
        "WITH m AS (SELECT account_id, count(*) FILTER (WHERE ts >= TIMESTAMP '2026-05-31') AS "
        "recent, count(*) FILTER (WHERE ts < TIMESTAMP '2026-05-31' AND ts >= "
        "TIMESTAMP '2026-01-31') / 4.0 AS earlier FROM events GROUP BY 1) "
        "SELECT count(*) FROM m WHERE earlier > 20 AND recent < 0.3 * earlier",
    )
    assert declined > 5


def test_events_reference_people_of_their_account(book: Book) -> None:
    assert {str(e) for (e,) in _sql(book, "SELECT DISTINCT event FROM events")} <= set(EVENTS)
    assert set(EVENTS) == DATAMODEL_EVENTS
    assert _value(book, "SELECT count(*) - count(DISTINCT message_id) FROM events") == 0
    orphans = _value(
        book,
        "SELECT count(*) FROM events e LEFT JOIN people p ON p.id = e.person_id "
        "LEFT JOIN accounts a ON a.id = e.account_id "
        "WHERE a.id IS NULL OR p.id IS NULL OR p.account_id <> e.account_id "
        "OR e.ts < p.created_at OR e.ts < a.closed_won_at OR e.received_at < e.ts",
    )
    assert orphans == 0
    assert _sql(book, "SELECT max(ts) FROM events")[0][0] < CUTOFF  # type: ignore[operator]
    for table in ("tickets", "nps", "billing", "people", "arr"):
        missing = _value(
            book,
            f"SELECT count(*) FROM {table} t LEFT JOIN accounts a ON a.id = t.account_id "
            "WHERE a.id IS NULL",
        )
        assert missing == 0, table
    steps = _sql(
        book, "SELECT DISTINCT properties FROM events WHERE event = 'step_completed' ORDER BY 1"
    )
    assert [s for (s,) in steps] == [f'{{"step": {n}}}' for n in range(1, 6)]


def test_people_titles_have_more_executives_in_big_accounts(book: Book) -> None:
    rows = _sql(
        book,
        "WITH t AS (SELECT a.acv >= 50000 AS big, "
        "regexp_matches(p.title, '^(C[A-Z]O|Chief )') AS c, p.title LIKE 'VP %' AS vp "
        "FROM people p JOIN accounts a ON a.id = p.account_id) "
        "SELECT big, count(*), sum(c::INT), sum(vp::INT) FROM t GROUP BY 1 ORDER BY 1",
    )
    small, big = rows
    assert int(str(small[2])) > 0 and int(str(small[3])) > 0
    assert int(str(big[2])) > int(str(small[2])) / 10  # big accounts are few but many people
    per_big = _value(
        book,
        "SELECT avg(n) FROM (SELECT a.id, count(p.id) AS n FROM accounts a "
        "JOIN people p ON p.account_id = a.id WHERE a.acv >= 100000 GROUP BY 1)",
    )
    per_small = _value(
        book,
        "SELECT avg(n) FROM (SELECT a.id, count(p.id) AS n FROM accounts a "
        "JOIN people p ON p.account_id = a.id WHERE a.acv < 5000 GROUP BY 1)",
    )
    assert per_big > 3 * per_small


def test_arr_history_has_renewals_churn_and_expansion(book: Book) -> None:
    months = _sql(book, "SELECT count(DISTINCT month), min(day(month)), max(day(month)) FROM arr")
    assert months[0] == (24, 1, 1)
    assert _value(book, "SELECT count(*) - count(DISTINCT (account_id, month)) FROM arr") == 0
    churned = _value(
        book,
        "SELECT count(DISTINCT account_id) FROM arr WHERE arr = 0 AND month = "
        "(SELECT max(month) FROM arr)",
    )
    expanded = _value(
        book,
        "SELECT count(*) FROM (SELECT account_id, max(arr) AS top FROM arr GROUP BY 1) m "
        "JOIN accounts a ON a.id = m.account_id WHERE m.top > a.acv * 1.05",
    )
    shrunk = _value(
        book,
        "SELECT count(*) FROM (SELECT account_id, arg_max(arr, month) AS last FROM arr "
        "GROUP BY 1) m JOIN accounts a ON a.id = m.account_id "
        "WHERE m.last > 0 AND m.last < a.acv * 0.97",
    )
    assert churned > 5 and expanded > 20 and shrunk > 5
    # A churned account's renewal date is past; every other renews on or after the as-of day.
    wrong = _value(
        book,
        "SELECT count(*) FROM accounts a JOIN arr r ON r.account_id = a.id "
        "AND r.month = (SELECT max(month) FROM arr) "
        "WHERE (r.arr = 0) <> (a.renewal_date < DATE '2026-06-30')",
    )
    assert wrong == 0
    kinds = {str(k) for (k,) in _sql(book, "SELECT DISTINCT kind FROM billing")}
    assert {
        "payment_failed",
        "payment_recovered",
        "downgrade_request",
        "cancellation_inquiry",
        "upgrade",
    } <= kinds
    assert _value(book, "SELECT count(*) FROM tickets WHERE status <> 'closed'") > 0
    assert _value(book, "SELECT min(score) FROM nps") >= 0
    assert _value(book, "SELECT max(score) FROM nps") <= 10


def test_csm_roster_follows_the_seed_ratios(book: Book) -> None:
    rows = _sql(
        book,
        "SELECT c.pool, any_value(c.capacity), count(DISTINCT a.id) / count(DISTINCT c.id) "
        "FROM csms c JOIN accounts a ON a.csm_id = c.id WHERE c.role = 'csm' GROUP BY 1",
    )
    pools = {str(p): (int(str(cap)), float(str(load))) for p, cap, load in rows}
    assert set(pools) <= {"self_service", "light_touch", "medium_touch", "high_touch"}
    for capacity, load in pools.values():
        assert load <= capacity
    assert pools["high_touch"][0] <= 25
    assert _value(book, "SELECT count(*) FROM csms WHERE role = 'manager'") >= 1
    assert (
        _value(
            book,
            "SELECT count(*) FROM csms c LEFT JOIN csms m ON m.id = c.manager_id "
            "WHERE c.role = 'csm' AND m.role IS DISTINCT FROM 'manager'",
        )
        == 0
    )
    assert (
        _value(
            book,
            "SELECT count(*) FROM accounts a LEFT JOIN csms c ON c.id = a.csm_id "
            "WHERE c.id IS NULL",
        )
        == 0
    )


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--accounts"):
        generate_book(0, 1, AS_OF)
    with pytest.raises(UsageError, match="--seed"):
        generate_book(10, -1, AS_OF)


def test_a_tiny_book_still_works() -> None:
    tiny = generate_book(1, 0, AS_OF)
    assert tiny.accounts.num_rows == 1
    assert tiny.csms.num_rows >= 2


def test_five_thousand_accounts_make_about_two_million_events_quickly() -> None:
    started = time.perf_counter()
    full = generate_book(5000, 42, date(2026, 11, 23))
    took = time.perf_counter() - started
    assert 1_500_000 <= full.events.num_rows <= 2_600_000
    assert took < 30.0, f"generating 5,000 accounts took {took:.1f}s"
