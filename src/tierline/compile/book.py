"""The book as of a moment, as SQL: the store's ``accounts_as_of(T)``, narrowed first.

The store's table macro ``accounts_as_of(T)`` (see :mod:`tierline.store.migrations`) picks the
latest version of every account loaded by ``T`` with a window over the whole of
``account_versions``. A query that wants a few accounts and filters the macro's rows pays
for that window over every account: DuckDB does not push a filter on ``id`` below it. When
the accounts are known, :func:`accounts_as_of_sql` filters the versions first and picks the
latest among those, which gives the same rows for those accounts.

>>> accounts_as_of_sql("CAST($as_of AS TIMESTAMP)")
'accounts_as_of(CAST($as_of AS TIMESTAMP))'
>>> print(accounts_as_of_sql("$t", "run_scope")[:98])
(SELECT * FROM account_versions WHERE loaded_at <= $t AND id IN (SELECT account_id FROM run_scope)
"""

from __future__ import annotations

__all__ = ["accounts_as_of_sql"]


def accounts_as_of_sql(moment: str, accounts: str | None = None) -> str:
    """A relation of the latest version of each account loaded at or before ``moment``.

    ``moment``: an SQL expression of the time. ``accounts``: only these accounts (a table
    name or a parenthesised SELECT with an ``account_id`` column; None: every account, and
    the relation is the macro itself). The rows are exactly the macro's for those accounts.
    """
    if accounts is None:
        return f"accounts_as_of({moment})"
    return (
        f"(SELECT * FROM account_versions WHERE loaded_at <= {moment} "
        f"AND id IN (SELECT account_id FROM {accounts}) "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY version DESC) = 1)"
    )
