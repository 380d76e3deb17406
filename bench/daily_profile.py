"""Where a daily run's time goes: every SQL statement it executes, timed by call site.

    python bench/daily_profile.py --accounts 100000 --events 10000000 --store /tmp/b.duckdb

The book is the one ``bench/run.py`` generates (same generator, seed and days). With
``--store PATH``, a store already at PATH is reused (copied first: the copy is what the runs
change) and a missing one is generated there and kept, so a second profile skips the
generation. Then, in one process: the full run as of ``T`` (timed), and ``--days`` daily
runs, each after appending one more day of events and checkpointing (untimed), as
``bench/run.py`` does. For each daily run it prints the run's wall time, the time inside
``execute`` calls and the statements by call site (``module:line function``), slowest
first.

Options that answer the questions a daily run's profile raises:

- ``--sql``: key the statements by call site *and* the first 140 characters of the SQL;
- ``--planning``: DuckDB's own profiler (``profiling_mode = 'detailed'``) on every
  statement of the daily runs: the time spent binding, optimizing and building physical
  plans, in total and by call site (the profiler adds its own overhead: compare shares, not
  times, with a run without it);
- ``--maintain-first``: fold the day's events into the rollups and the kept milestone state
  *before* the timed run, as ``tierline import events`` does after its rows land
  (:func:`tierline.engine.fold.fold_events`; timed and printed apart).

Nothing here asserts a time; ``bench/RESULTS.md`` records what was measured, with the
command.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

import run as bench  # bench/run.py (this folder is on sys.path): generator, day loader
from tierline.engine.fold import fold_events
from tierline.engine.run import run
from tierline.policy.load import load_project
from tierline.policy.model import Project
from tierline.store import Store

_PLANNING = ("optimizer", "planner", "physical_planner")


class Recorder:
    """A connection stand-in that times every ``execute`` by its caller."""

    def __init__(self, con: duckdb.DuckDBPyConnection, with_sql: bool, profile: Path | None):
        self._con = con
        self._with_sql = with_sql
        self._profile = profile
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()
        self.planning: collections.Counter[str] = collections.Counter()
        self.planning_by_site: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = self._con.execute(sql, *args, **kwargs)
        took = time.perf_counter() - start
        frame = traceback.extract_stack(limit=2)[0]
        site = f"{Path(frame.filename).name}:{frame.lineno} {frame.name}"
        key = f"{site} {' '.join(sql.split())[:140]}" if self._with_sql else site
        self.seconds[key] += took
        self.calls[key] += 1
        if self._profile is not None and self._profile.exists():
            # written when the statement finishes; read before the next one overwrites it
            data = json.loads(self._profile.read_text())
            self._profile.unlink()
            for part in _PLANNING:
                spent = float(data.get(part, {}).get("total_time", 0.0))
                self.planning[part] += spent
                self.planning_by_site[site] += spent
        return result


def _store(args: argparse.Namespace, workdir: Path) -> Path:
    """A copy of ``--store`` (generated there first when missing), or a fresh book."""
    source = args.store
    if source is None or not source.exists():
        target = source or workdir / "generated.duckdb"
        child = [sys.executable, bench.__file__, "--generate", str(target)]
        child += ["--accounts", str(args.accounts), "--events", str(args.events)]
        child += ["--threads", str(args.threads), "--seed", str(args.seed)]
        start = time.perf_counter()
        subprocess.run(child, check=True)
        print(f"book generated in {time.perf_counter() - start:.1f} s: {target}", flush=True)
        source = target
    copy = workdir / "profiled.duckdb"
    shutil.copy(source, copy)
    return copy


def _top(counter: collections.Counter[str], calls: collections.Counter[str], k: int) -> None:
    for key, seconds in counter.most_common(k):
        print(f"  {seconds:7.3f} s  x{calls[key]:<3} {key}")


def profile(args: argparse.Namespace) -> None:
    """Generate or copy the store, run it in full, then profile the daily runs."""
    project = load_project(bench.SEED_PACK)
    prefix = "tierline-daily-profile-"
    with (
        tempfile.TemporaryDirectory(dir=args.workdir, prefix=prefix) as tmp,
        Store.open(_store(args, Path(tmp)), project.fields) as store,
    ):
        con = store.con
        con.execute(f"SET threads = {args.threads}")
        start = time.perf_counter()
        run(store, project, bench.AS_OF, now=bench.AS_OF)
        full = time.perf_counter() - start
        print(f"full run as of {bench.AS_OF:%Y-%m-%d}: {full:.2f} s", flush=True)
        activity = bench.Activity(bench.closed_won(args.accounts, args.seed), args.seed)
        per_day = args.events // args.days_of_history
        for k in range(1, args.days + 1):
            end = bench.AS_OF + k * bench.DAY
            bench.load_day(con, activity, end, per_day, args.events + k * per_day)
            con.execute("CHECKPOINT")
            if args.maintain_first:
                _maintain(con, project)
            _daily(store, project, end, full, args, Path(tmp) / "statement.json")


def _maintain(con: duckdb.DuckDBPyConnection, project: Project) -> None:
    folded = fold_events(con, project)
    print(
        f"fold before the run (rollups, milestone state), as an import does: {folded.seconds:.3f} s"
    )


def _daily(
    store: Store,
    project: Project,
    end: datetime,
    full: float,
    args: argparse.Namespace,
    profile_file: Path,
) -> None:
    con = store.con
    if args.planning:
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = '{profile_file}'")
        con.execute("SET profiling_mode = 'detailed'")
    recorder = Recorder(con, args.sql, profile_file if args.planning else None)
    store.con = recorder  # type: ignore[assignment]
    try:
        start = time.perf_counter()
        report = run(store, project, end, now=end)
        took = time.perf_counter() - start
    finally:
        store.con = con
        if args.planning:
            con.execute("PRAGMA disable_profiling")
    inside = sum(recorder.seconds.values())
    print(
        f"daily run as of {end:%Y-%m-%d}: {took:.3f} s (full / daily {full / took:.1f}x; "
        f"{report.added:,} actions; {sum(recorder.calls.values())} statements, "
        f"{inside:.3f} s inside execute)"
    )
    _top(recorder.seconds, recorder.calls, args.top)
    if args.planning:
        parts = ", ".join(f"{p} {recorder.planning[p]:.3f} s" for p in _PLANNING)
        print(f"  planning (DuckDB profiler): {parts}; by call site:")
        for site, seconds in recorder.planning_by_site.most_common(args.top):
            print(f"    {seconds:7.4f} s  {site}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days-of-history", type=int, default=120, help="as bench/run.py --days")
    parser.add_argument("--days", type=int, default=2, help="daily runs to profile")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--planning", action="store_true")
    parser.add_argument("--maintain-first", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    profile(_parse(None))
