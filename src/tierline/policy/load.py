"""Load a policy project folder into the frozen :class:`~tierline.policy.model.Project`.

``load_project(root)`` reads ``tierline.yaml``, every tree it names (``.dag``), every rule
table (``rules/*.yaml``), ``metrics.yaml`` and every track (``tracks/*.yaml``, see
:mod:`tierline.policy.tracks`); checks each file's shape with the pydantic edge models
(:mod:`tierline.policy.schema`), then the names that tie the files together (fields, bound
questions and answers, outcomes, condition columns, track names), and raises one
:class:`~tierline.errors.PolicyError` listing every problem of every file, each rendered
``file:line:col: error: …`` with the YAML line and a caret. :func:`read_project` does the
same without raising, for the linter, which also shows warnings.

Paths in diagnostics are ``root / relative path`` as ``root`` was given, so a project read
as ``Path(".")`` reports ``rules/value-bands.yaml:12:5``.
"""

from __future__ import annotations

import os
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from tierline.diagnostics import Diagnostic, suggest
from tierline.dsl.model import Question, Tree
from tierline.dsl.parser import parse_tree
from tierline.dsl.validate import validate_tree
from tierline.errors import DiagnosticsError, PolicyError, UsageError
from tierline.expr.ranges import intervals_for_answers
from tierline.policy.catchup import read_run_settings
from tierline.policy.hashing import policy_files, project_version
from tierline.policy.ladder import check_track_refs, check_tracks
from tierline.policy.model import (
    CORE_ACCOUNT_FIELDS,
    Binding,
    Condition,
    FieldDef,
    FieldType,
    Loc,
    Project,
    RuleTable,
    Segmentation,
)
from tierline.policy.rules import check_sql, read_rule_table
from tierline.policy.schema import BindingEdge, ProjectEdge, SegmentationEdge
from tierline.policy.shape import Report, quiet, read_yaml, validate_shape
from tierline.policy.staffing import read_csm_assignment
from tierline.policy.tracks import TrackFile, read_track_file, track_files
from tierline.policy.yaml_marks import MarkedDict, Pos, parse_marked

if TYPE_CHECKING:
    from tierline.policy.metrics import Metric

__all__ = [
    "PROJECT_FILE",
    "ProjectReading",
    "find_project",
    "load_project",
    "read_project",
]

PROJECT_FILE = "tierline.yaml"
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD_TYPE: TypeAdapter[FieldType] = TypeAdapter(FieldType)


@dataclass(frozen=True)
class ProjectReading:
    """What reading a project found: the project (None when any error) and every diagnostic.

    ``sources`` maps each diagnostic path to the file's text (to render source lines).
    """

    project: Project | None
    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)


def find_project(project: Path | None = None, start: Path | None = None) -> Path:
    """The project root: ``project`` when given, else the nearest folder up from ``start``
    (default: the current directory) that holds a ``tierline.yaml``.

    A root found by walking up is returned relative to the current directory (``.``,
    ``..``), so that diagnostics show short paths.
    """
    if project is not None:
        if not (project / PROJECT_FILE).is_file():
            raise UsageError(f"{project} is not a tierline project (no {PROJECT_FILE} there)")
        return project
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return _relative(folder)
    raise UsageError(
        f"no {PROJECT_FILE} in {here} or any folder above it; "
        "pass --project DIR, or create a project with `tierline init DIR`"
    )


def _relative(folder: Path) -> Path:
    cwd = Path.cwd().resolve()
    if folder == cwd:
        return Path(".")
    if folder.is_relative_to(cwd):
        return folder.relative_to(cwd)
    if cwd.is_relative_to(folder):
        return Path(os.path.relpath(folder, cwd))
    return folder


def load_project(root: Path) -> Project:
    """Read and validate the project at ``root``; raise :class:`PolicyError` with every error."""
    reading = read_project(root)
    if reading.project is None:
        raise PolicyError(list(reading.diagnostics), reading.sources)
    return reading.project


def read_project(root: Path) -> ProjectReading:
    """Read the project at ``root`` and collect every diagnostic (errors and warnings)."""
    if not (root / PROJECT_FILE).is_file():
        raise UsageError(f"{root} is not a tierline project (no {PROJECT_FILE} there)")
    loader = _Loader(root)
    project = loader.run()
    report = loader.report
    order = {path: i for i, path in enumerate(report.sources)}
    diagnostics = sorted(
        report.diagnostics, key=lambda d: (order.get(d.path, len(order)), d.line, d.col)
    )
    if report.has_errors:
        project = None
    return ProjectReading(project, tuple(diagnostics), dict(report.sources))


class _Loader:
    """Reads one project, recording every problem in :attr:`report`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.report = Report()
        self.known: dict[str, str] = {}
        # Declared fields whose declaration is broken (reported once, not at every use).
        self.broken: set[str] = set()
        # The names a condition may read: the fields, plus the broken ones (see above).
        self.names: dict[str, str] = {}
        # The metrics of metrics.yaml once it loads without errors (Project.metrics).
        self.found_metrics: tuple[Metric, ...] = ()

    def show(self, rel: str) -> str:
        """The path of a project file as diagnostics print it."""
        return (self.root / rel).as_posix()

    def read_text(self, rel: str) -> str | None:
        """A file's text; a diagnostic when it cannot be read."""
        try:
            return (self.root / rel).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            self.report.add(self.show(rel), Pos(), f"file is not UTF-8 text: {exc.reason}")
        except OSError as exc:
            self.report.add(self.show(rel), Pos(), f"cannot read {rel!r}: {exc.strerror or exc}")
        return None

    def run(self) -> Project | None:
        path = self.show(PROJECT_FILE)
        text = self.read_text(PROJECT_FILE)
        if text is None:
            return None
        data = read_yaml(self.report, path, text)
        if data is None and not self.report.has_errors:
            self.report.add(path, Pos(), f"{PROJECT_FILE} is empty; it needs at least `name:`")
            return None
        if not isinstance(data, MarkedDict):
            if data is not None:
                self.report.add(path, Pos(), f"{PROJECT_FILE} must be a mapping (key: value)")
            return None
        edge = validate_shape(self.report, path, ProjectEdge, data)
        fields = self.fields(path, data)
        self.known = {f.name: f.type for f in fields}
        self.names = {**dict.fromkeys(self.broken, "boolean"), **self.known}
        self.check_settings(path, data)
        segmentations = self.segmentations(path, data, edge)
        metric_names = self.metrics(fields)
        track_files = self.read_tracks({**metric_names, **self.names})
        check_track_refs(self.report, path, data, track_files)
        tracks = [f.track for f in track_files if f.track is not None]
        levels = {f.declared: f.level for f in track_files if f.declared is not None}
        staffing = read_csm_assignment(self.report, path, data, segmentations, levels)
        run_settings = read_run_settings(self.report, path, data)
        if edge is None or self.report.has_errors:
            return None
        channels = tuple((k, _plain_dict(v)) for k, v in (edge.channels or {}).items())
        return Project(
            root=self.root.resolve(),
            name=edge.name,
            timezone=edge.timezone,
            currency=edge.currency,
            store_url=edge.store,
            fields=fields,
            segmentations=segmentations,
            version=project_version(self.root),
            channels=channels,
            files=tuple(policy_files(self.root)),
            tracks=tuple(sorted(tracks, key=lambda t: (t.level, t.id))),
            csm_assignment=staffing,
            metrics=self.found_metrics,
            run_settings=run_settings,
        )

    # tierline.yaml: settings and fields

    def check_settings(self, path: str, data: MarkedDict) -> None:
        """Values the shape check cannot judge: timezone, currency code, an empty name."""
        timezone = data.get("timezone")
        if isinstance(timezone, str) and timezone != "UTC":
            try:
                zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                hint = suggest(timezone, zoneinfo.available_timezones())
                pos = data.value_pos["timezone"]
                self.report.add(path, pos, f"unknown timezone {timezone!r}", hint)
        currency = data.get("currency")
        if isinstance(currency, str) and not re.fullmatch(r"[A-Z]{3}", currency):
            pos = data.value_pos["currency"]
            self.report.add(
                path, pos, f"currency must be an ISO 4217 code such as USD, not {currency!r}"
            )
        name = data.get("name")
        if isinstance(name, str) and not name.strip():
            self.report.add(path, data.value_pos["name"], "the project name is empty")

    def fields(self, path: str, data: MarkedDict) -> tuple[FieldDef, ...]:
        raw = data.get("fields")
        if not isinstance(raw, MarkedDict):
            return CORE_ACCOUNT_FIELDS
        core = {f.name for f in CORE_ACCOUNT_FIELDS}
        custom: list[FieldDef] = []
        for name, value in raw.items():
            key_pos = raw.key_pos[name]
            try:
                kind = _FIELD_TYPE.validate_python(value)
            except ValidationError:
                self.broken.add(name)
                continue  # reported by the shape check
            if name in core:
                self.report.add(path, key_pos, f"{name!r} is a core account field already")
                continue
            if not NAME.match(name):
                self.report.add(path, key_pos, f"field name {name!r} must be letters, digits and _")
                continue
            loc = Loc(path, key_pos.line, key_pos.col, key_pos.length)
            custom.append(FieldDef(name, kind, core=False, loc=loc))
        return CORE_ACCOUNT_FIELDS + tuple(custom)

    def metrics(self, fields: tuple[FieldDef, ...]) -> dict[str, str]:
        """Check metrics.yaml when there is one; its metric names and their value types.

        When the file has errors, the names it declares still count (as numbers), so that a
        broken metric is reported once, not again at every use.
        """
        rel = "metrics.yaml"
        if not (self.root / rel).is_file():
            return {}
        text = self.read_text(rel)
        if text is None:
            return {}
        from tierline.policy.metrics import load_metrics_text

        path = self.show(rel)
        self.report.add_source(path, text)
        try:
            found = load_metrics_text(text, path, fields)
        except DiagnosticsError as exc:
            self.report.extend(exc.diagnostics)
            data = parse_marked(text)[0]
            return dict.fromkeys(data, "number") if isinstance(data, MarkedDict) else {}
        self.found_metrics = found.metrics
        stamp = ("first", "last")
        return {m.name: "timestamp" if m.kind in stamp else "number" for m in found.metrics}

    def read_tracks(self, known: dict[str, str]) -> list[TrackFile]:
        """Read every ``tracks/*.yaml`` (``known``: what a graduation condition may read)."""
        files = [
            read_track_file(self.report, self.show(rel), self.read_text(rel), known)
            for rel in track_files(self.root)
        ]
        check_tracks(self.report, files)
        return files

    # segmentations

    def segmentations(
        self, path: str, data: MarkedDict, edge: ProjectEdge | None
    ) -> tuple[Segmentation, ...]:
        raw = data.get("segmentations")
        if not isinstance(raw, MarkedDict):
            if edge is not None and not raw:
                self.report.add(path, data.start, "the project defines no segmentations")
            return ()
        out: list[Segmentation] = []
        for sid, body in raw.items():
            key_pos = raw.key_pos[sid]
            if not NAME.match(sid):
                self.report.add(
                    path, key_pos, f"segmentation id {sid!r} must be letters, digits and _"
                )
            seg_edge = quiet(SegmentationEdge, body)
            if seg_edge is None or not isinstance(body, MarkedDict):
                continue  # the shape check reported it
            seg = self.segmentation(path, sid, key_pos, body, seg_edge)
            if seg is not None:
                out.append(seg)
        return tuple(out)

    def segmentation(
        self, path: str, sid: str, key_pos: Pos, body: MarkedDict, edge: SegmentationEdge
    ) -> Segmentation | None:
        loc = Loc(path, key_pos.line, key_pos.col, key_pos.length)
        if (edge.tree is None) == (edge.rules is None):
            what = "both" if edge.tree is not None else "neither"
            self.report.add(
                path, key_pos, f"segmentation {sid!r} has {what} `tree:` and `rules:`",
                "a segmentation is a bound tree (tree: + bindings:) or a rule table (rules:)",
            )  # fmt: skip
            return None
        if edge.rules is not None:
            if edge.bindings is not None:
                self.report.add(
                    path, body.key_pos["bindings"], "`bindings:` apply to a tree, not to rules"
                )
            rel = self.file_ref(path, body, "rules", edge.rules, ("rules", (".yaml", ".yml")))
            if rel is None:
                return None
            table = self.rule_table(rel)
            if table is None:
                return None
            tracks = self.tracks(path, body, edge, table.outcomes)
            return Segmentation(sid, table=table, tracks=tracks, loc=loc)
        assert edge.tree is not None
        rel = self.file_ref(path, body, "tree", edge.tree, ("trees", (".dag",)))
        if rel is None:
            return None
        tree = self.tree(rel)
        if tree is None:
            return None
        bindings = self.bindings(path, body, edge, tree, sid, rel)
        tracks = self.tracks(path, body, edge, tuple(o.id for o in tree.outcomes))
        return Segmentation(
            sid, tree=tree, tree_path=rel, bindings=bindings, tracks=tracks, loc=loc
        )

    def file_ref(
        self,
        path: str,
        body: MarkedDict,
        key: str,
        value: str,
        kind: tuple[str, tuple[str, ...]],
    ) -> str | None:
        """The project-relative POSIX path a ``tree:`` / ``rules:`` value names, if it exists."""
        pos = body.value_pos[key]
        at = Pos(pos.line, pos.content_col, max(1, len(value)))
        rel = PurePosixPath(value.replace("\\", "/"))
        if rel.is_absolute() or ".." in rel.parts or not value.strip():
            self.report.add(path, at, f"{key}: {value!r} must be a path inside the project")
            return None
        if not (self.root / rel).is_file():
            folder, suffixes = kind
            base = self.root / folder
            found = (
                sorted(
                    p.relative_to(self.root).as_posix()
                    for p in base.rglob("*")
                    if p.is_file() and p.suffix in suffixes
                )
                if base.is_dir()
                else []
            )
            hint = suggest(str(rel), found) or (
                f"files there: {', '.join(found)}" if found else None
            )
            self.report.add(path, at, f"{key} file {value!r} not found", hint)
            return None
        return str(rel)

    def tree(self, rel: str) -> Tree | None:
        text = self.read_text(rel)
        if text is None:
            return None
        path = self.show(rel)
        self.report.add_source(path, text.removeprefix("\ufeff"))
        try:
            tree = parse_tree(text, path)
        except DiagnosticsError as exc:
            self.report.extend(exc.diagnostics)
            return None
        diagnostics = validate_tree(tree)
        self.report.extend(diagnostics)
        return None if any(d.is_error for d in diagnostics) else tree

    def rule_table(self, rel: str) -> RuleTable | None:
        return read_rule_table(self.report, self.show(rel), self.read_text(rel), self.names)

    def tracks(
        self, path: str, body: MarkedDict, edge: SegmentationEdge, outcomes: tuple[str, ...]
    ) -> tuple[tuple[str, str], ...]:
        raw = body.get("tracks")
        if edge.tracks is None or not isinstance(raw, MarkedDict):
            return ()
        out: list[tuple[str, str]] = []
        for outcome, track in edge.tracks.items():
            if outcome not in outcomes:
                self.report.add(
                    path,
                    raw.key_pos[outcome],
                    f"unknown outcome {outcome!r}; the outcomes are {', '.join(outcomes)}",
                    suggest(outcome, outcomes),
                )
            elif not NAME.match(track):
                pos = raw.value_pos[outcome]
                self.report.add(
                    path,
                    Pos(pos.line, pos.content_col, max(1, len(track))),
                    f"track name {track!r} must be letters, digits and _",
                )
            else:
                out.append((outcome, track))
        return tuple(out)

    # bindings

    def bindings(
        self, path: str, body: MarkedDict, edge: SegmentationEdge, tree: Tree, sid: str, rel: str
    ) -> tuple[Binding, ...]:
        raw = body.get("bindings")
        given = edge.bindings or {}
        out: list[Binding] = []
        qids = [q.id for q in tree.questions]
        for qid, b_edge in given.items():
            assert isinstance(raw, MarkedDict)
            key_pos = raw.key_pos[qid]
            b_body = raw[qid]
            assert isinstance(b_body, MarkedDict)
            if tree.question(qid) is None:
                self.report.add(
                    path,
                    key_pos,
                    f"question {qid!r} is not in {rel}",
                    suggest(qid, qids) or f"its questions are {', '.join(qids)}",
                )
                continue
            binding = self.binding(path, qid, key_pos, b_body, b_edge, tree)
            if binding is not None:
                out.append(binding)
        bound = set(given)
        missing = [q for q in _reachable(tree) if q not in bound]
        if missing:
            where = body.key_pos.get("bindings") or body.start
            self.report.add(
                path,
                where,
                f"segmentation {sid!r}: question{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)} of {rel} {'have' if len(missing) > 1 else 'has'} "
                "no binding",
                'bind each question to data: {field: NAME} or {when: "SQL condition"}',
            )
        return tuple(out)

    def binding(
        self,
        path: str,
        qid: str,
        key_pos: Pos,
        body: MarkedDict,
        edge: BindingEdge,
        tree: Tree,
    ) -> Binding | None:
        question = tree.question(qid)
        assert question is not None
        loc = Loc(path, key_pos.line, key_pos.col, key_pos.length)
        keys = [a.key for a in question.answers]
        yes_no = sorted(k.lower() for k in keys) == ["no", "yes"]
        modes = [m for m in ("field", "when", "answers") if getattr(edge, m) is not None]
        if len(modes) != 1:
            self.report.add(
                path,
                key_pos,
                f"binding of {qid} needs exactly one of field, when, answers"
                + (f" (it has {', '.join(modes)})" if modes else ""),
            )
            return None
        ok = True
        null = edge.null
        if null is not None and not _has_answer(keys, null):
            pos = body.value_pos["null"]
            ok = False
            self.report.add(
                path,
                Pos(pos.line, pos.content_col, max(1, len(null))),
                f"{qid} has no answer {null!r}; its answers are {', '.join(keys)}",
                suggest(null, keys),
            )
        if edge.field is not None:
            ok = self.check_field_binding(path, body, edge.field, question, yes_no) and ok
            return Binding(qid, field=edge.field, null=null, loc=loc) if ok else None
        if edge.when is not None:
            if not yes_no:
                self.report.add(
                    path, body.key_pos["when"],
                    f"`when:` binds a yes / no question, but {qid}'s answers are "
                    f"{', '.join(keys)}", "use `answers: {KEY: \"SQL\", …}` for other answers",
                )  # fmt: skip
                ok = False
            cond = self.condition(path, edge.when, body.value_pos["when"])
            return Binding(qid, when=cond, null=null, loc=loc) if ok and cond else None
        answers: list[tuple[str, Condition]] = []
        raw = body["answers"]
        assert isinstance(raw, MarkedDict) and edge.answers is not None
        for (raw_key, _), (key, sql) in zip(raw.items(), edge.answers.items(), strict=True):
            if not _has_answer(keys, key):
                self.report.add(
                    path,
                    raw.key_pos[raw_key],
                    f"{qid} has no answer {key!r}; its answers are {', '.join(keys)}",
                    suggest(key, keys),
                )
                ok = False
                continue
            cond = self.condition(path, sql, raw.value_pos[raw_key])
            if cond is None:
                ok = False
            else:
                answers.append((key, cond))
        return Binding(qid, answers=tuple(answers), null=null, loc=loc) if ok else None

    def check_field_binding(
        self, path: str, body: MarkedDict, name: str, question: Question, yes_no: bool
    ) -> bool:
        qid = question.id
        pos = body.value_pos["field"]
        at = Pos(pos.line, pos.content_col, max(1, len(name)))
        if name in self.broken:
            return False
        kind = self.known.get(name)
        if kind is None:
            hint = suggest(name, self.known) or "declare it under `fields:` in tierline.yaml"
            self.report.add(path, at, f"unknown field {name!r}", hint)
            return False
        if kind == "boolean":
            if yes_no:
                return True
            problem = f"{qid} is bound to boolean field {name!r}, but its answers are not yes / no"
        elif kind in ("integer", "number"):
            found = intervals_for_answers([a.label for a in question.answers])
            if found and all(i is not None for i in found):
                return True
            problem = (
                f"{qid} is bound to {kind} field {name!r}, but its answer labels are not "
                "ranges such as 'Under $10,000'"
            )
        else:
            problem = f"{qid} cannot be bound to {kind} field {name!r}"
        self.report.add(path, at, problem, 'bind it with {when: "SQL condition"} instead')
        return False

    def condition(self, path: str, sql: str, pos: Pos) -> Condition | None:
        """A checked condition written at ``pos`` of ``path``; None (reported) when invalid."""
        return check_sql(self.report, path, sql, pos, self.names)


def _has_answer(keys: list[str], key: str) -> bool:
    return any(k == key or k.lower() == key.lower() for k in keys)


def _reachable(tree: Tree) -> list[str]:
    """The question ids reachable from the entry, in file order."""
    entry = tree.entry or (tree.questions[0].id if tree.questions else None)
    seen: set[str] = set()
    todo = [entry] if entry is not None else []
    while todo:
        qid = todo.pop()
        question = tree.question(qid)
        if qid in seen or question is None:
            continue
        seen.add(qid)
        todo.extend(a.target.id for a in question.answers if not a.target.is_outcome)
    return [q.id for q in tree.questions if q.id in seen]


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _plain_dict(value: dict[str, object]) -> dict[str, object]:
    return {str(k): _plain(v) for k, v in value.items()}
