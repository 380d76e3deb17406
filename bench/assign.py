"""Benchmark: assign generated books with the seed tree and the seed 000 table.

    python bench/assign.py --sizes 100000 1000000 10000000

For each size N it generates N accounts (numpy, vectorised) straight into the
``account_versions`` table of a fresh tierline store (a DuckDB file), then times, on the
same accounts and in the same run:

- **tierline**: the real engine path, ``tierline.engine.assign.assign_accounts`` on the
  store, with DuckDB limited to ``--threads`` (default 2) threads: both segmentations'
  compiled SQL evaluated over the book as of a time, one ``assignments`` row per assigned
  account and segmentation written with its explanation *by reference* (the decision code
  of its leaf or rule, whose template the ``decisions`` catalog holds), committed. Best of
  ``--repeat`` runs (the assignments and the catalog are deleted, untimed, between runs);
  the process CPU time of each run is recorded too.
- three informational breakdowns of that path, each over the same book:
  *decide only*: both compiled SELECTs, outcomes counted (DuckDB prunes the explanation);
  *decide + explain*: the explanations built too, their lengths summed, nothing written;
  *SELECT → INSERT*: the compiled SELECTs straight into an ``INSERT INTO assignments``
  with the explanation JSON *by value* (as tierline recorded it before schema 4), in one
  transaction, without the engine's bookkeeping (new/unassigned/moves reports);
  *render explanations*: ``recorded_explanations`` over the sample's recorded rows (the
  cost that recording by reference moves to the reader), per row.
- **pandas**: ``np.select`` over pandas nullable columns, whole book in memory (the
  DataFrame is built untimed; no explanations, nothing written).
- **reference evaluator**: ``tierline.engine.reference.evaluate_segmentation`` per account
  and segmentation, on a random sample (``--ref-sample``), extrapolated to N.
- **zen-engine**: one call per account of a sample (``--zen-sample``), extrapolated to N:
  one JDM graph with both tables (the tree flattened), called two ways,
  ``decision.evaluate(account)`` and ``engine.evaluate(key, account)`` (cached loader);
  the goal check uses the faster (the one most favourable to zen).

Every implementation must agree with tierline on every account it evaluated (pandas on
all N, the samples on theirs); the reference's explanations must also equal the recorded
ones, rendered from their decisions. Exit status 1 when anything disagrees.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from common import (
    FIELD_NAMES,
    TIER,
    TIER_OUTCOMES,
    TRACK,
    TRACK_OUTCOMES,
    ZEN_KEY,
    SeedPolicy,
    account_id_sql,
    generate_book,
    load_accounts,
    outcome_table,
    pandas_decide,
    pandas_frame,
    seed_policy,
    zen_decision,
    zen_engine,
)
from tierline.compile import segmentation_select, to_sql
from tierline.engine.assign import assign_accounts, decided_sql
from tierline.engine.decision import recorded_explanations
from tierline.engine.reference import evaluate_segmentation
from tierline.store import Store

AS_OF = datetime(2026, 3, 1, 12, 0, 0)
CHUNK = 500
GOAL_N = 1_000_000
GOAL_SECONDS = 1.0
GOAL_ZEN = 100.0
GOAL_REFERENCE = 30.0


@dataclass
class Timing:
    """One engine's time on one book size."""

    engine: str
    accounts: int  # accounts actually evaluated (a sample for the per-account baselines)
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.accounts / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Agreement:
    """How many accounts two implementations decided alike (both segmentations)."""

    pair: str
    compared: int
    agree: int

    @property
    def ok(self) -> bool:
        return self.compared == self.agree


@dataclass
class SizeResult:
    """Everything measured for one book size."""

    n: int
    tierline: Timing
    tierline_runs: list[float]
    tierline_cpu: list[float]
    decide_only: Timing
    decide_explain: Timing
    direct_insert: Timing
    render: Timing
    pandas: Timing
    reference: Timing
    zen: Timing
    zen_engine: Timing
    agreements: list[Agreement] = field(default_factory=list)
    distribution: dict[str, dict[str, int]] = field(default_factory=dict)
    generate_seconds: float = 0.0
    load_seconds: float = 0.0


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _timed_per_account(
    progress: Progress,
    label: str,
    items: Sequence[Any],
    call: Callable[[Any], Any],
) -> tuple[float, list[Any]]:
    """Call ``call`` once per item; the seconds spent inside the calls, and the results."""
    task = progress.add_task(label, total=len(items))
    spent = 0.0
    out: list[Any] = []
    for chunk in _chunks(items, CHUNK):
        began = time.perf_counter()
        done = [call(item) for item in chunk]
        spent += time.perf_counter() - began
        out.extend(done)
        progress.advance(task, len(chunk))
    progress.remove_task(task)
    return spent, out


def _open_store(path: Path, policy: SeedPolicy, threads: int) -> Store:
    for stale in (path, Path(f"{path}.wal")):
        stale.unlink(missing_ok=True)
    store = Store.open(path, policy.project.fields)
    store.con.execute(f"SET threads = {threads}")
    return store


def _reset_assignments(store: Store) -> None:
    store.con.execute("DELETE FROM assignments")
    store.con.execute("DELETE FROM decisions")
    store.con.execute("DELETE FROM outcome_ranks")
    store.con.execute("CHECKPOINT")


def _cpu_seconds() -> float:
    """User + system CPU time of this process (DuckDB's threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _time_tierline(
    store: Store, policy: SeedPolicy, n: int, repeat: int
) -> tuple[list[float], list[float], dict[str, dict[str, int]]]:
    runs: list[float] = []
    cpu: list[float] = []
    distribution: dict[str, dict[str, int]] = {}
    for run in range(repeat):
        if run:
            _reset_assignments(store)
        began, began_cpu = time.perf_counter(), _cpu_seconds()
        report = assign_accounts(store, policy.project, AS_OF, now=AS_OF)
        runs.append(time.perf_counter() - began)
        cpu.append(_cpu_seconds() - began_cpu)
        for seg in report.segmentations:
            total = seg.assigned_count + seg.unassigned_count
            if total != n:
                raise SystemExit(f"{seg.segmentation}: decided {total} accounts, expected {n}")
            counts = {o.outcome: o.count for o in seg.assigned}
            counts["(unassigned)"] = seg.unassigned_count
            distribution[seg.segmentation] = counts
    return runs, cpu, distribution


def _time_decide(store: Store, policy: SeedPolicy, explain: bool) -> float:
    """Both compiled SELECTs over the stored book; with ``explain``, explanations built too."""
    began = time.perf_counter()
    for seg in (policy.track, policy.tier):
        select = to_sql(segmentation_select(seg, policy.project, source="account_versions"))
        if explain:
            sql = f"SELECT count(outcome), sum(length(explanation)) FROM ({select})"
        else:
            sql = f"SELECT outcome, count(*) FROM ({select}) GROUP BY outcome"
        store.con.execute(sql).fetchall()
    return time.perf_counter() - began


_INSERT = (
    "INSERT INTO assignments (account_id, segmentation, outcome, explanation, policy_version, "
    "assigned_at, source, recorded_at) "
    "SELECT account_id, ?, outcome, explanation, ?, ?, 'rule', ? FROM ({decided}) d "
    "WHERE outcome IS NOT NULL"
)


def _time_direct_insert(store: Store, policy: SeedPolicy, n: int, repeat: int) -> float:
    """The compiled SELECTs into ``INSERT INTO assignments``, committed; best of ``repeat``."""
    runs: list[float] = []
    version = policy.project.version
    for _ in range(repeat):
        _reset_assignments(store)
        began = time.perf_counter()
        with store.transaction() as con:
            for seg in (policy.track, policy.tier):
                sql = _INSERT.format(decided=decided_sql(seg, policy.project))
                con.execute(sql, [seg.id, version, AS_OF, AS_OF, AS_OF, AS_OF])
        runs.append(time.perf_counter() - began)
    (written,) = store.con.execute("SELECT count(*) FROM assignments").fetchall()[0]
    if not 0 < written <= 2 * n:
        raise SystemExit(f"the direct INSERT wrote {written} rows for {n} accounts")
    return min(runs)


def _agree_all(store: Store, track: np.ndarray, tier: np.ndarray, n: int) -> Agreement:
    """pandas vs the recorded assignments, on every account (compared in DuckDB)."""
    table = outcome_table(
        np.arange(n, dtype=np.int64),
        {TRACK: (track, TRACK_OUTCOMES), TIER: (tier, TIER_OUTCOMES)},
    )
    con = store.con
    con.register("bench_pandas", table)
    try:
        row = con.execute(
            f"""
            SELECT count(*),
                   count(*) FILTER (WHERE t.outcome IS NOT DISTINCT FROM p.{TRACK}
                                      AND r.outcome IS NOT DISTINCT FROM p.{TIER})
            FROM bench_pandas p
            LEFT JOIN assignments t
              ON t.account_id = {account_id_sql("p.i")} AND t.segmentation = '{TRACK}'
            LEFT JOIN assignments r
              ON r.account_id = {account_id_sql("p.i")} AND r.segmentation = '{TIER}'
            """
        ).fetchall()[0]
    finally:
        con.unregister("bench_pandas")
    return Agreement("tierline = pandas (all accounts)", int(row[0]), int(row[1]))


def _sample_rows(store: Store, ids: np.ndarray) -> tuple[list[dict[str, Any]], float]:
    """The sampled accounts as stored, with tierline's recorded outcome and explanation.

    The explanations are rendered from their decisions (one set-based call, timed: the
    seconds are returned with the rows).
    """
    con = store.con
    con.register("bench_sample", pa.table({"i": ids}))
    try:
        fields = ", ".join(f"v.{f}" for f in FIELD_NAMES)
        rows = con.execute(
            f"""
            SELECT v.id, {fields}, t.outcome, t.id, r.outcome, r.id
            FROM account_versions v
            JOIN bench_sample s ON v.id = {account_id_sql("s.i")}
            LEFT JOIN assignments t ON t.account_id = v.id AND t.segmentation = '{TRACK}'
            LEFT JOIN assignments r ON r.account_id = v.id AND r.segmentation = '{TIER}'
            ORDER BY v.id
            """
        ).fetchall()
    finally:
        con.unregister("bench_sample")
    names = ("id", *FIELD_NAMES, "t_out", "t_expl", "r_out", "r_expl")
    found = [dict(zip(names, row, strict=True)) for row in rows]
    assignment_ids = [int(r[k]) for r in found for k in ("t_expl", "r_expl") if r[k] is not None]
    began = time.perf_counter()
    rendered = recorded_explanations(con, assignment_ids)
    seconds = time.perf_counter() - began
    for row in found:
        for key in ("t_expl", "r_expl"):
            row[key] = None if row[key] is None else rendered[int(row[key])]
    return found, seconds


def _account(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", *FIELD_NAMES)}


def _run_size(
    n: int,
    args: argparse.Namespace,
    policy: SeedPolicy,
    console: Console,
    workdir: Path,
) -> SizeResult:
    rng = np.random.default_rng(args.seed + 1)
    with _progress(console) as progress:
        step = progress.add_task(f"N={n:,}: generating the book", total=None)
        began = time.perf_counter()
        book = generate_book(n, args.seed)
        generated = time.perf_counter() - began
        progress.update(step, description=f"N={n:,}: loading it into a store")
        store = _open_store(workdir / f"bench-{n}.duckdb", policy, args.threads)
        began = time.perf_counter()
        load_accounts(store.con, book)
        store.con.execute("CHECKPOINT")
        loaded = time.perf_counter() - began

        repeat = args.repeat if n <= args.repeat_max else 1
        progress.update(step, description=f"N={n:,}: tierline assign ×{repeat}")
        runs, cpu, distribution = _time_tierline(store, policy, n, repeat)
        progress.update(step, description=f"N={n:,}: tierline decide only / + explain")
        decide = min(_time_decide(store, policy, explain=False) for _ in range(repeat))
        explain = min(_time_decide(store, policy, explain=True) for _ in range(repeat))

        progress.update(step, description=f"N={n:,}: pandas np.select ×{repeat}")
        frame = pandas_frame(book)
        pandas_runs: list[float] = []
        for _ in range(repeat):
            began = time.perf_counter()
            track, tier = pandas_decide(frame)
            pandas_runs.append(time.perf_counter() - began)
        del frame
        progress.update(step, description=f"N={n:,}: comparing pandas with tierline")
        agreements = [_agree_all(store, track, tier, n)]
        del track, tier, book

        sample_n = min(max(args.ref_sample, args.zen_sample), n)
        ids = np.sort(rng.choice(n, size=sample_n, replace=False))
        rows, render_seconds = _sample_rows(store, ids)
        rendered_rows = sum(r[k] is not None for r in rows for k in ("t_expl", "r_expl"))
        progress.update(step, description=f"N={n:,}: compiled SELECT → INSERT ×{repeat}")
        direct = _time_direct_insert(store, policy, n, repeat)
        progress.remove_task(step)

        ref_rows = rows[: min(args.ref_sample, n)]
        ref_accounts = [_account(r) for r in ref_rows]
        project, track_seg, tier_seg = policy.project, policy.track, policy.tier

        def reference(account: dict[str, Any]) -> tuple[Any, Any]:
            return (
                evaluate_segmentation(track_seg, project, account),
                evaluate_segmentation(tier_seg, project, account),
            )

        ref_seconds, ref_out = _timed_per_account(
            progress, f"N={n:,}: reference evaluator", ref_accounts, reference
        )
        zen_rows = rows[: min(args.zen_sample, n)]
        contexts = [{f: r[f] for f in FIELD_NAMES} for r in zen_rows]
        decision = zen_decision()
        zen_seconds, zen_out = _timed_per_account(
            progress, f"N={n:,}: zen decision.evaluate", contexts, decision.evaluate
        )
        engine = zen_engine()
        zen2_seconds, zen2_out = _timed_per_account(
            progress,
            f"N={n:,}: zen engine.evaluate",
            contexts,
            lambda ctx: engine.evaluate(ZEN_KEY, ctx),
        )
    store.close()
    for leftover in (workdir / f"bench-{n}.duckdb", workdir / f"bench-{n}.duckdb.wal"):
        leftover.unlink(missing_ok=True)

    agree_out = agree_expl = recorded = 0
    for row, ((t_out, t_expl), (r_out, r_expl)) in zip(ref_rows, ref_out, strict=True):
        agree_out += (row["t_out"], row["r_out"]) == (t_out, r_out)
        for stored, mine in ((row["t_expl"], t_expl), (row["r_expl"], r_expl)):
            if stored is not None:
                recorded += 1
                agree_expl += json.loads(stored) == mine
    agreements.append(Agreement("tierline = reference (sample)", len(ref_rows), agree_out))
    agreements.append(Agreement("explanations = reference (recorded rows)", recorded, agree_expl))
    for label, results in (("decision", zen_out), ("engine", zen2_out)):
        zen_agree = sum(
            (row["t_out"], row["r_out"]) == (res["result"].get(TRACK), res["result"].get(TIER))
            for row, res in zip(zen_rows, results, strict=True)
        )
        agreements.append(
            Agreement(f"tierline = zen-engine {label}.evaluate (sample)", len(zen_rows), zen_agree)
        )

    return SizeResult(
        n=n,
        tierline=Timing("tierline assign (store, incl. write)", n, min(runs)),
        tierline_runs=runs,
        tierline_cpu=cpu,
        decide_only=Timing("  of which: decide only", n, decide, "info"),
        decide_explain=Timing("  of which: decide + explain", n, explain, "info"),
        direct_insert=Timing("  compiled SELECT → INSERT, JSON by value", n, direct, "info"),
        render=Timing("  render explanations (sample rows)", rendered_rows, render_seconds, "info"),
        pandas=Timing("pandas np.select (in memory)", n, min(pandas_runs)),
        reference=Timing("reference evaluator (per account)", len(ref_rows), ref_seconds, "sample"),
        zen=Timing("zen-engine decision.evaluate", len(zen_rows), zen_seconds, "sample"),
        zen_engine=Timing("zen-engine engine.evaluate", len(zen_rows), zen2_seconds, "sample"),
        agreements=agreements,
        distribution=distribution,
        generate_seconds=generated,
        load_seconds=loaded,
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return 0.0


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("tierline", "duckdb", "numpy", "pandas", "pyarrow", "zen-engine"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gib": round(_memory_gib(), 1),
        "platform": platform.platform(),
    }


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value < 100 else f"{value:,.0f}"


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _results_table(results: list[SizeResult], threads: int) -> Table:
    table = Table(
        title=f"Assign the seed tree + seed 000 table (tierline on {threads} DuckDB threads)",
        title_justify="left",
    )
    for name, justify in (
        ("accounts", "right"),
        ("engine", "left"),
        ("evaluated", "right"),
        ("time (s)", "right"),
        ("time for N (s)", "right"),
        ("accounts/s", "right"),
        ("tierline ×", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for res in results:
        base = res.tierline.rate
        for timing in (
            res.tierline,
            res.decide_only,
            res.decide_explain,
            res.direct_insert,
            res.render,
            res.pandas,
            res.reference,
            res.zen,
            res.zen_engine,
        ):
            sample = timing.note == "sample"
            if timing is res.tierline:
                ratio = "—"
            elif timing.note == "info":
                ratio = "(info)"
            else:
                ratio = f"{base / timing.rate:,.1f}×"
            table.add_row(
                f"{res.n:,}",
                timing.engine,
                f"{timing.accounts:,}" + (" (sample)" if sample else ""),
                _seconds(timing.seconds),
                _seconds(res.n / timing.rate) + (" (extrap.)" if sample else ""),
                _rate(timing.rate),
                ratio,
            )
        table.add_section()
    return table


def _agreement_table(results: list[SizeResult]) -> Table:
    table = Table(title="Agreement (both segmentations per account)", title_justify="left")
    table.add_column("accounts", justify="right")
    table.add_column("compared")
    table.add_column("agree", justify="right")
    table.add_column("of", justify="right")
    table.add_column("ok")
    for res in results:
        for a in res.agreements:
            table.add_row(
                f"{res.n:,}", a.pair, f"{a.agree:,}", f"{a.compared:,}", "yes" if a.ok else "NO"
            )
    return table


def _goals(results: list[SizeResult]) -> list[tuple[str, bool, str]]:
    goals: list[tuple[str, bool, str]] = []
    for res in results:
        zen = res.tierline.rate / max(res.zen.rate, res.zen_engine.rate)
        ref = res.tierline.rate / res.reference.rate
        goals.append(
            (
                f"N={res.n:,}: ≥{GOAL_ZEN:.0f}× zen-engine per-call throughput (faster call)",
                zen >= GOAL_ZEN,
                f"{zen:,.1f}×",
            )
        )
        goals.append(
            (
                f"N={res.n:,}: ≥{GOAL_REFERENCE:.0f}× the reference evaluator",
                ref >= GOAL_REFERENCE,
                f"{ref:,.1f}×",
            )
        )
        if res.n == GOAL_N:
            goals.append(
                (
                    f"N={res.n:,}: assign incl. the write in < {GOAL_SECONDS:.0f} s",
                    res.tierline.seconds < GOAL_SECONDS,
                    f"{res.tierline.seconds:.3f} s",
                )
            )
    return goals


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best counts")
    parser.add_argument(
        "--repeat-max",
        type=int,
        default=2_000_000,
        help="sizes above this run once (default 2,000,000)",
    )
    parser.add_argument("--ref-sample", type=int, default=10_000)
    parser.add_argument("--zen-sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20260301)
    parser.add_argument("--workdir", type=Path, default=None, help="where the stores go")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every implementation agreed on every account."""
    args = _parse(argv)
    # Wide enough that the tables do not wrap when the output goes to a file.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    policy = seed_policy()
    machine, versions = _machine(), _versions()
    console.print(
        f"machine: {machine['nproc']} CPUs ({machine['cpu']}), {machine['ram_gib']} GiB RAM; "
        + ", ".join(f"{k} {v}" for k, v in versions.items()),
        soft_wrap=True,
    )
    load_before = os.getloadavg()
    started = datetime.now()
    results: list[SizeResult] = []
    with tempfile.TemporaryDirectory(prefix="tierline-bench-", dir=args.workdir) as tmp:
        for n in args.sizes:
            res = _run_size(n, args, policy, console, Path(tmp))
            runs = ", ".join(f"{r:.3f}" for r in res.tierline_runs)
            cpu = ", ".join(f"{c:.3f}" for c in res.tierline_cpu)
            console.print(
                f"N={n:,}: generated in {res.generate_seconds:.2f}s, loaded in "
                f"{res.load_seconds:.2f}s; tierline assign runs (s): {runs} "
                f"(process CPU s: {cpu}); load average now {os.getloadavg()[0]:.2f}",
                soft_wrap=True,
            )
            results.append(res)
    load_after = os.getloadavg()

    console.print(_results_table(results, args.threads))
    console.print(_agreement_table(results))
    goals = _goals(results)
    for text, ok, value in goals:
        console.print(f"{'PASS' if ok else 'FAIL'}  {text}: {value}")
    console.print(
        f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/"
        f"{load_before[2]:.2f}, after {load_after[0]:.2f}/{load_after[1]:.2f}/"
        f"{load_after[2]:.2f}"
    )
    agreed = all(a.ok for res in results for a in res.agreements)
    if args.json is not None:
        payload = {
            "started": started.isoformat(timespec="seconds"),
            "argv": sys.argv,
            "machine": machine,
            "versions": versions,
            "threads": args.threads,
            "load_before": load_before,
            "load_after": load_after,
            "results": [
                {
                    **asdict(res),
                    "tierline_median": statistics.median(res.tierline_runs),
                }
                for res in results
            ],
            "goals": [{"goal": t, "ok": ok, "value": v} for t, ok, v in goals],
            "agreed": agreed,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if not agreed:
        console.print("[bold red]DISAGREEMENT: see the agreement table[/]")
    return 0 if agreed else 1


if __name__ == "__main__":
    raise SystemExit(main())
