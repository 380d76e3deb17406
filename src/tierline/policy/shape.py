"""Shape checks: validate marked YAML data against an edge model, as diagnostics.

:class:`Report` collects the diagnostics of every file of a project (with each file's text,
so that they render with the source line and a caret). :func:`validate_shape` runs a
pydantic edge model over :class:`~tierline.policy.yaml_marks.MarkedDict` data and turns
each pydantic error into a diagnostic at the offending key or value, using the error's
``loc`` to walk the marked data.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tierline.diagnostics import Diagnostic, Severity, suggest
from tierline.policy.model import Loc
from tierline.policy.yaml_marks import MarkedDict, MarkedList, Pos, parse_marked

__all__ = ["Report", "describe", "locate", "quiet", "read_yaml", "validate_shape"]

M = TypeVar("M", bound=BaseModel)

_EXPECTED: dict[str, str] = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
}


class Report:
    """The diagnostics and source texts of a project being read."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []
        self.sources: dict[str, str] = {}

    def add_source(self, path: str, text: str) -> None:
        self.sources[path] = text

    def add(
        self,
        path: str,
        pos: Pos | Loc,
        message: str,
        hint: str | None = None,
        severity: Severity = "error",
    ) -> None:
        """Record a diagnostic at ``pos`` of ``path``."""
        lines = self.sources.get(path, "").splitlines()
        source_line = lines[pos.line - 1] if 1 <= pos.line <= len(lines) else None
        self.diagnostics.append(
            Diagnostic(
                path=path,
                line=pos.line,
                col=pos.col,
                message=message,
                severity=severity,
                length=pos.length,
                hint=hint,
                source_line=source_line,
            )
        )

    def extend(self, diagnostics: Sequence[Diagnostic]) -> None:
        """Record diagnostics made elsewhere (the DSL validator, the condition checker)."""
        for d in diagnostics:
            if d.source_line is None and d.path in self.sources:
                lines = self.sources[d.path].splitlines()
                if 1 <= d.line <= len(lines):
                    d = Diagnostic(
                        d.path, d.line, d.col, d.message, d.severity, d.length, d.hint,
                        lines[d.line - 1],
                    )  # fmt: skip
            self.diagnostics.append(d)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def errors_in(self, path: str) -> list[Diagnostic]:
        """The errors recorded so far for the file ``path``."""
        return [d for d in self.diagnostics if d.is_error and d.path == path]


def read_yaml(report: Report, path: str, text: str) -> object:
    """Parse ``text`` with line marks, reporting syntax errors and duplicate keys."""
    report.add_source(path, text)
    data, duplicates, problems = parse_marked(text)
    for p in problems:
        report.add(path, p.pos, p.message, p.hint)
    for d in duplicates:
        report.add(path, d.pos, f"duplicate key {d.key!r} (first on line {d.first.line})")
    return data


def describe(value: object) -> str:
    """What a YAML value is, in words: ``'a mapping'``, ``'a list'``, ``"the string 'x'"``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return type(value).__name__


def locate(data: object, loc: Sequence[int | str]) -> tuple[Pos | None, Pos, Pos]:
    """Positions for a pydantic error ``loc`` in marked data.

    Returns (the position of the last key reached, or None at the top; the position of the
    value reached; the position of the key that holds the innermost mapping reached).
    Parts of ``loc`` that are not in the data (pydantic's union tags) are skipped.
    """
    node = data
    key_pos: Pos | None = None
    value_pos = data.start if isinstance(data, MarkedDict | MarkedList) else Pos()
    holder: Pos = Pos()
    for part in loc:
        if isinstance(node, MarkedDict) and isinstance(part, str) and part in node:
            holder = key_pos or node.start
            key_pos, value_pos = node.key_pos[part], node.value_pos[part]
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            holder = key_pos or node.start
            key_pos = value_pos = node.item_pos[part]
            node = node[part]
    if isinstance(node, MarkedDict):
        holder = key_pos or node.start
    return key_pos, value_pos, holder


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The edge model class that validates the mapping at ``loc``, if there is one."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _name(loc: Sequence[int | str]) -> str:
    for i in range(len(loc) - 1, -1, -1):
        part = loc[i]
        if isinstance(part, str) and not part.startswith(("function-", "[")):
            suffix = "".join(f"[{p}]" for p in loc[i + 1 :] if isinstance(p, int))
            return part + suffix
    return "value"


def _diagnose(
    report: Report,
    path: str,
    data: object,
    model: type[BaseModel],
    err: ErrorDetails,
    prefix: Sequence[int | str],
) -> None:
    loc = [*prefix, *err["loc"]]
    kind = err["type"]
    key_pos, value_pos, holder = locate(data, loc)
    name = _name(loc)
    if kind == "extra_forbidden":
        key = str(loc[-1])
        owner = _model_at(model, err["loc"][:-1])
        fields = owner.model_fields.items() if owner is not None else ()
        allowed = sorted(f.alias or n for n, f in fields)
        hint = suggest(key, allowed) or (
            f"expected one of: {', '.join(allowed)}" if allowed else None
        )
        report.add(path, key_pos or value_pos, f"unknown key {key!r}", hint)
    elif kind == "missing":
        report.add(path, holder, f"missing required key {name!r}")
    elif kind == "literal_error":
        expected = [s.strip().strip("'") for s in str(err.get("ctx", {}).get("expected", ""))
                    .replace(" or ", ", ").split(",") if s.strip()]  # fmt: skip
        value = err["input"]
        hint = suggest(str(value), expected) if isinstance(value, str) else None
        report.add(
            path,
            value_pos,
            f"invalid {name!r}: {describe(value)}; expected one of {', '.join(expected)}",
            hint,
        )
    elif kind in _EXPECTED:
        report.add(
            path, value_pos, f"{name!r} must be {_EXPECTED[kind]}, not {describe(err['input'])}"
        )
    else:
        report.add(path, value_pos, f"{name!r}: {err['msg']}")


def validate_shape(
    report: Report,
    path: str,
    model: type[M],
    data: object,
    prefix: Sequence[int | str] = (),
    root: object = None,
) -> M | None:
    """Validate ``data`` with ``model``; report every error at its place; None on errors.

    ``root`` is the file's whole marked data and ``prefix`` the place of ``data`` in it,
    when ``data`` is only a part of the file.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        whole = data if root is None else root
        for err in exc.errors():
            _diagnose(report, path, whole, model, err, prefix)
        return None


def quiet(model: type[M], data: object) -> M | None:
    """Validate ``data`` with ``model`` without reporting (errors were reported already)."""
    try:
        return model.model_validate(data)
    except ValidationError:
        return None
