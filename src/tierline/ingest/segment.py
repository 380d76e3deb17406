"""Segment JSON Lines: track/page/screen calls become events, identify/group calls people.

Everything is one SQL statement over the staged lines (table ``_tl_raw`` with columns
``__row`` and ``json``). An event's account is ``context.groupId``, else the user's latest
``group`` call at or before the event (an ASOF join), else the user's latest ``group`` call
in the file, else the account the store already links that person to.
"""

from __future__ import annotations

import duckdb

from tierline.ingest.reader import IS_JSON_OBJECT

__all__ = ["SEGMENT_TYPES", "is_segment", "segment_events_sql", "segment_people_sql"]

# The Segment call types tierline reads (others are skipped).
SEGMENT_TYPES = ("track", "page", "screen", "identify", "group", "alias")

_CALLS = f"""
_tl_call AS (
  SELECT
    __row,
    j IS NOT NULL AS ok,
    lower(json_extract_string(j, '$.type')) AS type,
    coalesce(json_extract_string(j, '$.userId'), json_extract_string(j, '$.anonymousId'))
      AS user_id,
    json_extract_string(j, '$.context.groupId') AS ctx_group,
    json_extract_string(j, '$.groupId') AS group_id,
    coalesce(json_extract_string(j, '$.timestamp'), json_extract_string(j, '$.originalTimestamp'),
             json_extract_string(j, '$.sentAt')) AS ts_text,
    timezone('UTC', TRY_CAST(coalesce(json_extract_string(j, '$.timestamp'),
             json_extract_string(j, '$.originalTimestamp'),
             json_extract_string(j, '$.sentAt')) AS TIMESTAMPTZ)) AS ts_utc,
    j
  FROM (
    SELECT __row,
      CASE WHEN {IS_JSON_OBJECT} THEN json::JSON END AS j
    FROM _tl_raw
  )
)"""


def is_segment(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the staged JSON lines look like Segment calls (a ``type`` Segment knows)."""
    types = ", ".join(f"'{t}'" for t in SEGMENT_TYPES)
    # fetchall, not fetchone: an unfinished result blocks ``unregister`` on this connection.
    call_type = f"lower(json_extract_string(CASE WHEN {IS_JSON_OBJECT} THEN json END, '$.type'))"
    rows = con.execute(
        f"SELECT count(*) FILTER (WHERE {call_type} IN ({types})) FROM _tl_raw"
    ).fetchall()
    return bool(rows and rows[0][0])


def segment_events_sql() -> str:
    """SELECT of the canonical text columns of ``events`` from Segment calls."""
    return f"""
WITH {_CALLS},
_tl_group AS (
  SELECT user_id, group_id, ts_utc, __row FROM _tl_call
  WHERE ok AND type = 'group' AND user_id IS NOT NULL AND group_id IS NOT NULL
),
_tl_group_at AS (SELECT * FROM _tl_group WHERE ts_utc IS NOT NULL),
_tl_group_last AS (
  SELECT user_id, arg_max(group_id, __row) AS group_id FROM _tl_group GROUP BY user_id
),
_tl_person AS (SELECT id, account_id FROM people WHERE account_id IS NOT NULL),
_tl_event AS (
  SELECT c.*,
    coalesce(c.ctx_group, g.group_id, l.group_id, p.account_id) AS account
  FROM _tl_call c
  ASOF LEFT JOIN _tl_group_at g ON c.user_id = g.user_id AND c.ts_utc >= g.ts_utc
  LEFT JOIN _tl_group_last l ON l.user_id = c.user_id
  LEFT JOIN _tl_person p ON p.id = c.user_id
)
SELECT
  __row,
  1 AS __n,
  ok AND type IS DISTINCT FROM 'track' AND type IS DISTINCT FROM 'page'
     AND type IS DISTINCT FROM 'screen' AS __skip,
  CASE
    WHEN NOT ok THEN 'invalid JSON (each line must be one JSON object)'
    WHEN account IS NULL THEN 'no account for user ''' || coalesce(user_id, '?')
      || ''' (no context.groupId and no group call)'
  END AS __pre,
  json_extract_string(j, '$.messageId') AS message_id,
  account AS account_id,
  user_id AS person_id,
  CASE type
    WHEN 'track' THEN json_extract_string(j, '$.event')
    WHEN 'page' THEN 'page_viewed'
    WHEN 'screen' THEN 'screen_viewed'
  END AS event,
  ts_text AS ts,
  CAST(json_extract(j, '$.properties') AS VARCHAR) AS properties,
  json_extract_string(j, '$.receivedAt') AS received_at
FROM _tl_event
"""


def segment_people_sql() -> str:
    """SELECT of the canonical text columns of ``people`` from identify and group calls.

    The calls of one user merge into one row: the latest non-blank email and title of its
    identify calls, the account of its latest group call (else of ``context.groupId``).
    """
    return f"""
WITH {_CALLS}
SELECT
  min(__row) AS __row,
  count(*) AS __n,
  false AS __skip,
  CAST(NULL AS VARCHAR) AS __pre,
  user_id AS id,
  coalesce(
    arg_max(group_id, __row) FILTER (WHERE type = 'group' AND group_id IS NOT NULL),
    arg_max(ctx_group, __row) FILTER (WHERE ctx_group IS NOT NULL)
  ) AS account_id,
  arg_max(json_extract_string(j, '$.traits.email'), __row)
    FILTER (WHERE type = 'identify' AND json_extract_string(j, '$.traits.email') IS NOT NULL)
    AS email,
  arg_max(json_extract_string(j, '$.traits.title'), __row)
    FILTER (WHERE type = 'identify' AND json_extract_string(j, '$.traits.title') IS NOT NULL)
    AS title,
  coalesce(
    min(json_extract_string(j, '$.traits.createdAt')),
    CAST(min(ts_utc) AS VARCHAR)
  ) AS created_at
FROM _tl_call
WHERE ok AND type IN ('identify', 'group')
GROUP BY user_id
UNION ALL
SELECT
  __row, 1, ok, CASE WHEN NOT ok THEN 'invalid JSON (each line must be one JSON object)' END,
  NULL, NULL, NULL, NULL, NULL
FROM _tl_call
WHERE NOT ok OR type IS NULL OR type NOT IN ('identify', 'group')
"""
