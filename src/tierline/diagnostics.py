"""Compiler-style diagnostics shared by the DSL, the policy loader and the linter.

A :class:`Diagnostic` points at a span of a source file and renders as::

    trees/onboarding.dag:14:12: error: unknown target 'Q9'
       14 |   yes -> Q9
          |          ^^
    did you mean 'Q4'?

Lines and columns are 1-based; ``length`` is the number of characters the caret covers.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "note"]

__all__ = ["Diagnostic", "Severity", "closest", "render_diagnostics", "suggest"]


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a file, with the place it points at."""

    path: str
    line: int
    col: int
    message: str
    severity: Severity = "error"
    length: int = 1
    hint: str | None = None
    source_line: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self, source: str | None = None) -> str:
        """The diagnostic as text: header, the source line with a caret, then the hint.

        ``source`` is the whole file's text; when omitted, ``source_line`` is used.
        """
        head = f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"
        text = self.source_line
        if source is not None and self.line >= 1:
            lines = source.splitlines()
            if self.line <= len(lines):
                text = lines[self.line - 1]
        out = [head]
        if text is not None:
            shown = text.replace("\t", " ")
            gutter = f"{self.line:>5} | "
            out.append(gutter + shown)
            pad = " " * (len(gutter) - 2) + "| "
            width = max(1, min(self.length, max(1, len(shown) - self.col + 1)))
            out.append(pad + " " * (self.col - 1) + "^" * width)
        if self.hint:
            out.append(self.hint)
        return "\n".join(out)


def render_diagnostics(
    diagnostics: Iterable[Diagnostic], sources: dict[str, str] | None = None
) -> str:
    """Render several diagnostics, each with its file's text when ``sources`` has it."""
    sources = sources or {}
    return "\n".join(d.render(sources.get(d.path)) for d in diagnostics)


def closest(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The candidate nearest to ``name`` (case-insensitive), or None when none is close.

    >>> closest("segmentaton", ["tracks", "Segmentation"])
    'Segmentation'
    >>> closest("Q9", ["Q1", "Q4"]) is None
    True
    """
    pool: Sequence[str] = sorted(set(candidates))
    lowered = {c.lower(): c for c in pool}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=cutoff)
    return lowered[hits[0]] if hits else None


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """A ``did you mean 'X'?`` hint for ``name``, or None."""
    best = closest(name, candidates)
    return f"did you mean {best!r}?" if best else None
