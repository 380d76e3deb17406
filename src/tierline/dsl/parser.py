"""Read Decision DAG DSL text into a :class:`~tierline.dsl.model.Tree`.

The DSL is line based::

    dag: Which onboarding track?        header lines, ``key: value``, before the first block
    entry: Q1

    Q1: What is the ACV?                a question block: ``ID: text`` at column 1 …
      hint: Use the CRM figure.         … then indented ``hint:``, answers and other fields
      A: Under $10,000 -> [SELF_SERVE]
      yes -> Q2

    [SELF_SERVE]: Self-Serve            an outcome block: ``[ID]: label`` …
      color: #22c55e                    … then indented ``key: value`` fields

Lines are split like :meth:`str.splitlines` (so LF, CRLF and CR all work, and line numbers
agree with the diagnostics renderer). Trailing blanks are ignored, indentation may use tabs,
and lines whose first non-blank character is ``#`` are comments. Every syntax problem of a
file is collected and raised together as one :class:`~tierline.errors.DslSyntaxError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from tierline.diagnostics import Diagnostic
from tierline.dsl.model import Answer, Header, Outcome, Question, Span, Target, Tree
from tierline.errors import DslSyntaxError, UsageError

__all__ = ["IDENT", "load_tree", "parse_target", "parse_tree"]

IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_TARGET = rf"\[{IDENT}\]|{IDENT}"

_HEAD_RE = re.compile(rf"^(?P<key>{IDENT})\s*:(?:\s+(?P<value>.*))?$")
_OUTCOME_RE = re.compile(rf"^\[(?P<id>{IDENT})\]\s*:(?:\s+(?P<label>.*))?$")
_FIELD_RE = re.compile(rf"^(?P<key>{IDENT})\s*:(?:\s+(?P<value>.*))?$")
_ANSWER_RE = re.compile(rf"^(?P<key>{IDENT})\s*:\s*(?P<label>.*?)\s*->\s*(?P<target>{_TARGET})$")
_BARE_RE = re.compile(rf"^(?P<key>{IDENT})\s*->\s*(?P<target>{_TARGET})$")
_ARROW_RE = re.compile(rf"^(?P<key>{IDENT})\s*(?::(?P<label>.*?))?\s*->\s*(?P<target>.*)$")
# Keys that can only mean an answer (``A``, ``BB``, ``yes``): a malformed arrow there is an
# error, while ``note: a -> b`` under any other key is an ordinary field.
_ANSWER_KEY_RE = re.compile(r"^(?:[A-Z]{1,2}|[0-9]{1,2}|yes|no)$", re.IGNORECASE)
_TARGET_RE = re.compile(rf"^(?:{_TARGET})$")
_STRIP = " \t\r"


def parse_target(token: str, span: Span | None = None) -> Target | None:
    """``Q3`` → a question target, ``[OUT]`` → an outcome target, else None.

    >>> parse_target("[SELF_SERVE]")
    Target(id='SELF_SERVE', is_outcome=True, span=Span(line=0, col=0, length=1))
    """
    if not _TARGET_RE.match(token):
        return None
    at = span or Span()
    if token.startswith("["):
        return Target(id=token[1:-1], is_outcome=True, span=at)
    return Target(id=token, is_outcome=False, span=at)


@dataclass
class _QuestionDraft:
    id: str
    text: str
    span: Span
    hint: str | None = None
    answers: list[Answer] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)

    def build(self) -> Question:
        return Question(
            id=self.id,
            text=self.text,
            answers=tuple(self.answers),
            hint=self.hint,
            extra=tuple(self.extra),
            span=self.span,
        )


@dataclass
class _OutcomeDraft:
    id: str
    label: str
    span: Span
    fields: list[tuple[str, str]] = field(default_factory=list)

    def build(self) -> Outcome:
        return Outcome(id=self.id, label=self.label, fields=tuple(self.fields), span=self.span)


@dataclass
class _Line:
    number: int
    indent: int  # count of leading blank characters (spaces and tabs)
    content: str  # the line without indentation and trailing blanks
    raw: str


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self.headers: list[Header] = []
        self.blocks: list[_QuestionDraft | _OutcomeDraft] = []
        self.lines = self._split(text.removeprefix("\ufeff"))

    @staticmethod
    def _split(text: str) -> list[_Line]:
        out: list[_Line] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            stripped = raw.rstrip(_STRIP)
            content = stripped.lstrip(" \t")
            out.append(_Line(number, len(stripped) - len(content), content, raw))
        return out

    def error(
        self, line: _Line, col: int, length: int, message: str, hint: str | None = None
    ) -> None:
        self.diagnostics.append(
            Diagnostic(
                path=self.path,
                line=line.number,
                col=max(1, col),
                message=message,
                length=max(1, length),
                hint=hint,
                source_line=line.raw,
            )
        )

    def _is_blank(self, line: _Line) -> bool:
        return not line.content or line.content.startswith("#")

    def _next_is_indented(self, index: int) -> bool:
        for line in self.lines[index + 1 :]:
            if self._is_blank(line):
                continue
            return line.indent > 0
        return False

    def run(self) -> Tree:
        in_headers = True
        current: _QuestionDraft | _OutcomeDraft | None = None
        skipping = False  # after a malformed block line, its indented lines are skipped
        for index, line in enumerate(self.lines):
            if not line.content:
                if in_headers and self.headers:
                    in_headers = False
                continue
            if line.content.startswith("#"):
                continue
            if line.indent > 0:
                if current is not None:
                    self._block_line(current, line)
                elif not skipping:
                    self.error(
                        line,
                        line.indent + 1,
                        len(line.content),
                        "indented line outside a question or outcome block",
                    )
                continue
            skipping = False
            if (
                in_headers
                and not line.content.startswith("[")
                and not self._next_is_indented(index)
            ):
                self._header(line)
                continue
            in_headers = False
            current = self._block_start(line)
            skipping = current is None
        questions = tuple(b.build() for b in self.blocks if isinstance(b, _QuestionDraft))
        outcomes = tuple(b.build() for b in self.blocks if isinstance(b, _OutcomeDraft))
        return Tree(
            headers=tuple(self.headers),
            questions=questions,
            outcomes=outcomes,
            source=self.text,
            path=self.path,
        )

    def _header(self, line: _Line) -> None:
        m = _HEAD_RE.match(line.content)
        if m is None:
            self.error(
                line,
                1,
                len(line.content),
                f"expected a header 'key: value', got {line.content!r}",
            )
            return
        value = (m.group("value") or "").strip()
        col = line.indent + (m.start("value") if m.group("value") is not None else m.end()) + 1
        self.headers.append(
            Header(key=m.group("key"), value=value, span=Span(line.number, col, max(1, len(value))))
        )

    def _block_start(self, line: _Line) -> _QuestionDraft | _OutcomeDraft | None:
        content = line.content
        if content.startswith("["):
            m = _OUTCOME_RE.match(content)
            if m is None:
                self.error(
                    line, 1, len(content), f"expected an outcome '[ID]: label', got {content!r}"
                )
                return None
            label = (m.group("label") or "").strip()
            if not label:
                self.error(line, 1, len(content), f"outcome [{m.group('id')}] has no label")
            outcome = _OutcomeDraft(
                id=m.group("id"), label=label, span=Span(line.number, 2, len(m.group("id")))
            )
            self.blocks.append(outcome)
            return outcome
        m = _HEAD_RE.match(content)
        if m is None:
            self.error(
                line,
                1,
                len(content),
                f"expected a question 'ID: text' or an outcome '[ID]: label', got {content!r}",
            )
            return None
        text = (m.group("value") or "").strip()
        if not text:
            self.error(line, 1, len(content), f"question {m.group('key')} has no text")
        question = _QuestionDraft(
            id=m.group("key"), text=text, span=Span(line.number, 1, len(m.group("key")))
        )
        self.blocks.append(question)
        return question

    def _block_line(self, block: _QuestionDraft | _OutcomeDraft, line: _Line) -> None:
        if isinstance(block, _OutcomeDraft):
            m = _FIELD_RE.match(line.content)
            if m is None:
                self.error(
                    line,
                    line.indent + 1,
                    len(line.content),
                    f"expected a field 'key: value' in outcome [{block.id}], got {line.content!r}",
                )
                return
            block.fields.append((m.group("key"), (m.group("value") or "").strip()))
            return
        self._question_line(block, line)

    def _question_line(self, block: _QuestionDraft, line: _Line) -> None:
        content = line.content
        base = line.indent  # 0-based column where content starts
        field_m = _FIELD_RE.match(content)
        if field_m is not None and field_m.group("key") == "hint":
            if block.hint is not None:
                self.error(line, base + 1, 4, f"question {block.id} has a second 'hint'")
                return
            block.hint = (field_m.group("value") or "").strip()
            return
        m = _ANSWER_RE.match(content)
        if m is not None:
            label = m.group("label").strip()
            key = m.group("key")
            if not label:
                self.error(
                    line, base + m.end("key") + 1, 1, f"answer {key} of {block.id} has no label"
                )
            self._add_answer(
                block,
                line,
                key,
                label or key,
                m.group("target"),
                m.start("target"),
                m.end("label") if label else m.end("key"),
            )
            return
        m = _BARE_RE.match(content)
        if m is not None:
            key = m.group("key")
            self._add_answer(block, line, key, key, m.group("target"), m.start("target"), len(key))
            return
        arrow = _ARROW_RE.match(content)
        if arrow is not None and (
            _ANSWER_KEY_RE.match(arrow.group("key")) or arrow.group("label") is None
        ):
            bad = arrow.group("target")
            col = base + arrow.start("target") + 1
            if bad:
                self.error(
                    line,
                    col,
                    len(bad),
                    f"expected a target 'Q1' or '[OUTCOME]' after '->', got {bad!r}",
                )
            else:
                self.error(line, col, 1, "expected a target 'Q1' or '[OUTCOME]' after '->'")
            return
        if field_m is not None:
            block.extra.append((field_m.group("key"), (field_m.group("value") or "").strip()))
            return
        self.error(
            line,
            base + 1,
            len(content),
            f"expected 'hint: …', an answer 'A: label -> target' or 'yes -> target' "
            f"in question {block.id}, got {content!r}",
        )

    def _add_answer(
        self,
        block: _QuestionDraft,
        line: _Line,
        key: str,
        label: str,
        token: str,
        target_start: int,
        label_end: int,
    ) -> None:
        base = line.indent
        target = parse_target(token, Span(line.number, base + target_start + 1, len(token)))
        assert target is not None  # the regular expression only matches valid targets
        block.answers.append(
            Answer(
                key=key,
                label=label,
                target=target,
                span=Span(line.number, base + 1, max(1, label_end)),
            )
        )


def parse_tree(text: str, path: str = "<string>") -> Tree:
    """Parse DSL text; raise :class:`DslSyntaxError` listing every syntax problem.

    >>> parse_tree("entry: Q1\\n\\nQ1: Ok?\\n  yes -> [Y]\\n  no -> [N]\\n").entry
    'Q1'
    """
    parser = _Parser(text, path)
    tree = parser.run()
    if parser.diagnostics:
        raise DslSyntaxError(parser.diagnostics, sources={path: text.removeprefix("\ufeff")})
    return tree


def load_tree(path: str | Path) -> Tree:
    """Read and parse a ``.dag`` file (UTF-8)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        # Decoding the bytes ourselves keeps CRLF line ends in ``Tree.source`` as written.
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{str(path)!r} is not UTF-8 text: {exc.reason}") from exc
    return parse_tree(text, str(path))
