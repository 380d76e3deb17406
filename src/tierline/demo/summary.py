"""What a store holds, summarised in SQL, and printed as rich tables (``tierline demo``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.console import Console
from rich.table import Table

from tierline.store.store import Store

__all__ = ["ACV_BANDS", "BookSummary", "render_summary", "summarise"]

# (label, lower bound inclusive); the last band has no upper bound.
ACV_BANDS: tuple[tuple[str, float], ...] = (
    ("< $5K", 0.0),
    ("$5K–10K", 5_000.0),
    ("$10K–25K", 10_000.0),
    ("$25K–50K", 25_000.0),
    ("$50K–100K", 50_000.0),
    ("$100K–250K", 100_000.0),
    ("≥ $250K", 250_000.0),
)

_C_LEVEL = r"^(C[A-Z]O|Chief )"
_VP = r"^(VP|Vice President) "


@dataclass(frozen=True)
class BookSummary:
    """Counts of a book as stored."""

    location: str
    accounts: int
    bands: tuple[tuple[str, int, float], ...]  # label, accounts, total ACV
    people: int
    c_level: int
    vps: int
    events: int
    event_types: tuple[tuple[str, int], ...]
    first_event: datetime | None
    last_event: datetime | None
    tickets: int
    open_tickets: int
    nps: int
    nps_score: float | None
    billing: tuple[tuple[str, int], ...]
    arr_months: int
    arr_first: datetime | None
    arr_last: datetime | None
    arr_now: float
    csms: tuple[tuple[str, str, int, int], ...]  # pool, role, people, capacity


def _one(store: Store, sql: str) -> tuple[object, ...]:
    row = store.con.execute(sql).fetchone()
    return tuple(row) if row is not None else ()


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float) else 0


def summarise(store: Store) -> BookSummary:
    """Summarise the book in ``store`` (latest account versions)."""
    con = store.con
    cases = " ".join(
        f"WHEN acv >= {low} THEN {i}" for i, (_, low) in reversed(list(enumerate(ACV_BANDS)))
    )
    band_rows = con.execute(
        f"SELECT CASE {cases} END AS band, count(*), sum(acv) FROM accounts GROUP BY 1"
    ).fetchall()
    found = {int(b): (int(n), float(total)) for b, n, total in band_rows}
    bands = tuple((label, *found.get(i, (0, 0.0))) for i, (label, _) in enumerate(ACV_BANDS))
    people = _one(
        store,
        f"SELECT count(*), count(*) FILTER (WHERE regexp_matches(title, '{_C_LEVEL}')), "
        f"count(*) FILTER (WHERE regexp_matches(title, '{_VP}')) FROM people",
    )
    events = con.execute(
        "SELECT event, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    span = _one(store, "SELECT min(ts), max(ts) FROM events")
    tickets = _one(
        store, "SELECT count(*), count(*) FILTER (WHERE status <> 'closed') FROM tickets"
    )
    nps = _one(
        store,
        "SELECT count(*), 100.0 * (avg((score >= 9)::INTEGER) - avg((score <= 6)::INTEGER)) "
        "FROM nps",
    )
    billing = con.execute(
        "SELECT kind, count(*) FROM billing GROUP BY 1 ORDER BY 2 DESC, 1"
    ).fetchall()
    arr = _one(
        store,
        "SELECT count(DISTINCT month), min(month), max(month), "
        "coalesce(sum(arr) FILTER (WHERE month = (SELECT max(month) FROM arr)), 0) FROM arr",
    )
    csms = con.execute(
        "SELECT coalesce(pool, '-'), coalesce(role, '-'), count(*), "
        "coalesce(sum(capacity), 0) FROM csms GROUP BY 1, 2 "
        "ORDER BY coalesce(role, '-') = 'manager', max(capacity) DESC, 1"
    ).fetchall()
    return BookSummary(
        location=store.location,
        accounts=sum(b[1] for b in bands),
        bands=bands,
        people=_int(people[0]),
        c_level=_int(people[1]),
        vps=_int(people[2]),
        events=sum(int(n) for _, n in events),
        event_types=tuple((str(e), int(n)) for e, n in events),
        first_event=span[0] if isinstance(span[0], datetime) else None,
        last_event=span[1] if isinstance(span[1], datetime) else None,
        tickets=_int(tickets[0]),
        open_tickets=_int(tickets[1]),
        nps=_int(nps[0]),
        nps_score=float(str(nps[1])) if nps[1] is not None else None,
        billing=tuple((str(k), int(n)) for k, n in billing),
        arr_months=_int(arr[0]),
        arr_first=_as_datetime(arr[1]),
        arr_last=_as_datetime(arr[2]),
        arr_now=float(str(arr[3])),
        csms=tuple((str(p), str(r), int(n), int(c)) for p, r, n, c in csms),
    )


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if value is None:
        return None
    return datetime.fromisoformat(str(value))


def _money(amount: float) -> str:
    if amount >= 1e6:
        return f"${amount / 1e6:,.1f}M"
    return f"${amount / 1e3:,.0f}K"


def render_summary(summary: BookSummary, console: Console) -> None:
    """Print the summary: accounts by ACV band, people, events by type, the rest, the store."""
    bands = Table(title=f"Accounts by ACV band ({summary.accounts:,})", title_justify="left")
    bands.add_column("ACV band")
    bands.add_column("accounts", justify="right")
    bands.add_column("share", justify="right")
    bands.add_column("total ACV", justify="right")
    for label, n, total in summary.bands:
        share = n / summary.accounts if summary.accounts else 0.0
        bands.add_row(label, f"{n:,}", f"{share:.1%}", _money(total))
    console.print(bands)

    events = Table(title=f"Events by type ({summary.events:,})", title_justify="left")
    events.add_column("event")
    events.add_column("count", justify="right")
    for name, n in summary.event_types:
        events.add_row(name, f"{n:,}")
    console.print(events)

    book = Table(title="The rest of the book", title_justify="left", show_header=False)
    book.add_column("what")
    book.add_column("value")
    book.add_row(
        "people",
        f"{summary.people:,} ({summary.c_level:,} C-level, {summary.vps:,} VP)",
    )
    if summary.first_event is not None and summary.last_event is not None:
        book.add_row(
            "events from",
            f"{summary.first_event:%Y-%m-%d %H:%M} to {summary.last_event:%Y-%m-%d %H:%M} UTC",
        )
    book.add_row("tickets", f"{summary.tickets:,} ({summary.open_tickets:,} open)")
    nps = f", NPS {summary.nps_score:+.0f}" if summary.nps_score is not None else ""
    book.add_row("NPS responses", f"{summary.nps:,}{nps}")
    book.add_row("billing", ", ".join(f"{k} {n:,}" for k, n in summary.billing) or "none")
    if summary.arr_first is not None and summary.arr_last is not None:
        book.add_row(
            "ARR history",
            f"{summary.arr_months} months, {summary.arr_first:%Y-%m} to "
            f"{summary.arr_last:%Y-%m}; ARR now {_money(summary.arr_now)}",
        )
    book.add_row(
        "CSMs",
        ", ".join(
            f"{pool} {n} ({role}{f', capacity {cap:,}' if cap else ''})"
            for pool, role, n, cap in summary.csms
        ),
    )
    console.print(book)
    console.print(f"Store: {summary.location}", soft_wrap=True)
