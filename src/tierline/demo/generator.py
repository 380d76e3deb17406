"""The demo book generator: ``generate_book(accounts, seed, as_of)``.

Deterministic for a seed: each part of the book draws from its own child of the seed's
``SeedSequence``, so the same seed gives the same tables, byte for byte.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from tierline.demo.accounts import DAYS_BACK, draw_accounts, roster
from tierline.demo.activity import draw_events
from tierline.demo.book import Book, date_array
from tierline.demo.history import draw_people, draw_revenue
from tierline.demo.localtime import Clock
from tierline.demo.signals import draw_billing, draw_nps, draw_tickets
from tierline.errors import UsageError

__all__ = ["generate_book"]

_MAX_ACCOUNTS = 200_000


def generate_book(accounts: int, seed: int, as_of: date) -> Book:
    """A realistic SaaS book of ``accounts`` accounts as of ``as_of`` (nothing on or after it)."""
    if not 1 <= accounts <= _MAX_ACCOUNTS:
        raise UsageError(f"--accounts must be between 1 and {_MAX_ACCOUNTS} (got {accounts})")
    if seed < 0:
        raise UsageError(f"--seed must be zero or positive (got {seed})")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    clock = Clock.build(as_of, DAYS_BACK + 40)
    book_accounts = draw_accounts(streams[0], accounts, clock)
    revenue = draw_revenue(streams[1], book_accounts, clock)
    people = draw_people(streams[2], book_accounts, clock)
    # A churned account's renewal date is the renewal it did not sign.
    churned = revenue.churn_day < clock.as_of_day
    renewal = np.where(churned, revenue.churn_day, book_accounts.renewal_day)
    table = book_accounts.table
    column = table.schema.get_field_index("renewal_date")
    table = table.set_column(column, "renewal_date", date_array(renewal))
    return Book(
        accounts=table,
        people=people.table,
        events=draw_events(streams[3], book_accounts, people, revenue, clock),
        tickets=draw_tickets(streams[4], book_accounts, people, revenue, clock),
        nps=draw_nps(streams[5], book_accounts, people, revenue, clock),
        billing=draw_billing(streams[6], book_accounts, revenue, clock),
        arr=revenue.table,
        csms=roster(streams[7], book_accounts),
    )
