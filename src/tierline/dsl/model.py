"""The parsed form of a Decision DAG tree (frozen dataclasses, no behaviour).

A :class:`Tree` keeps everything a ``.dag`` file says, in file order, plus the source text
and the positions (1-based line and column) that diagnostics point at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Answer", "Header", "Outcome", "Question", "Span", "Target", "Tree"]


@dataclass(frozen=True)
class Span:
    """Where something is in the source: 1-based line and column, and its length."""

    line: int = 0
    col: int = 0
    length: int = 1


@dataclass(frozen=True)
class Target:
    """Where an answer leads: a question id, or an outcome id (written ``[ID]``)."""

    id: str
    is_outcome: bool
    span: Span = field(default=Span(), compare=False)

    def __str__(self) -> str:
        return f"[{self.id}]" if self.is_outcome else self.id


@dataclass(frozen=True)
class Answer:
    """One answer of a question: ``key`` is ``A``/``B``… or ``yes``/``no``.

    ``label`` is the text after ``A:`` (for yes/no answers it equals the key).
    """

    key: str
    label: str
    target: Target
    span: Span = field(default=Span(), compare=False)


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[Answer, ...]
    hint: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    span: Span = field(default=Span(), compare=False)


@dataclass(frozen=True)
class Outcome:
    """An outcome block ``[ID]: label`` with its indented fields in file order.

    ``fields`` holds every indented ``key: value`` (``color``, ``description``, ``code``
    and any other), in the order written.
    """

    id: str
    label: str
    fields: tuple[tuple[str, str], ...] = ()
    span: Span = field(default=Span(), compare=False)

    def get(self, key: str) -> str | None:
        for k, v in self.fields:
            if k == key:
                return v
        return None

    @property
    def color(self) -> str | None:
        return self.get("color")

    @property
    def description(self) -> str | None:
        return self.get("description")

    @property
    def code(self) -> str | None:
        return self.get("code")


@dataclass(frozen=True)
class Header:
    """One ``key: value`` header line."""

    key: str
    value: str
    span: Span = field(default=Span(), compare=False)


@dataclass(frozen=True)
class Tree:
    """A whole Decision DAG: headers, questions and outcomes in file order."""

    headers: tuple[Header, ...]
    questions: tuple[Question, ...]
    outcomes: tuple[Outcome, ...]
    source: str | None = field(default=None, compare=False)
    path: str = field(default="<string>", compare=False)
    # Top-level keys of an imported JSON that are not ours (``_meta``, ``author``, ``file``…),
    # as (key, json.dumps(value)) in file order, so that an export writes them back.
    extra_json: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def header(self, key: str) -> str | None:
        for h in self.headers:
            if h.key == key:
                return h.value
        return None

    @property
    def name(self) -> str | None:
        return self.header("dag")

    @property
    def entry(self) -> str | None:
        return self.header("entry")

    @property
    def tags(self) -> list[str]:
        raw = self.header("tags")
        return [t.strip() for t in raw.split(",") if t.strip()] if raw else []

    def question(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def outcome(self, oid: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.id == oid), None)
