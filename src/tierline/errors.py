"""The exceptions tierline raises. Every one derives from :class:`TierlineError`::

    TierlineError
    ├── DiagnosticsError          carries a list of file:line:col diagnostics
    │   ├── DslSyntaxError        the Decision DAG DSL text cannot be read
    │   ├── DslValidationError    the DSL reads but the tree is not valid
    │   └── PolicyError           a policy project file is invalid
    ├── CompileError              policy cannot be compiled to SQL
    ├── StoreError                the store cannot be opened, migrated or queried
    ├── IngestError               an import cannot run at all (bad rows are rejected, not raised)
    ├── EngineError               assignment, overrides or a run cannot proceed
    ├── DeliveryError             an action could not be delivered
    ├── AuthError                 a caller is not allowed to do this
    └── UsageError                a command was called with arguments that cannot work

The CLI prints ``str(error)`` and exits 1; ``--debug`` adds the traceback.
"""

from __future__ import annotations

from collections.abc import Sequence

from tierline.diagnostics import Diagnostic

__all__ = [
    "AuthError",
    "CompileError",
    "DeliveryError",
    "DiagnosticsError",
    "DslSyntaxError",
    "DslValidationError",
    "EngineError",
    "IngestError",
    "PolicyError",
    "StoreError",
    "TierlineError",
    "UsageError",
]


class TierlineError(Exception):
    """Base class of every error tierline raises on purpose."""


class DiagnosticsError(TierlineError):
    """An error made of one or more diagnostics, rendered compiler style."""

    def __init__(
        self,
        diagnostics: Sequence[Diagnostic],
        sources: dict[str, str] | None = None,
    ) -> None:
        self.diagnostics = list(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.sources.get(d.path)) for d in self.diagnostics)

    @property
    def first(self) -> Diagnostic:
        return self.diagnostics[0]


class DslSyntaxError(DiagnosticsError):
    """The Decision DAG DSL text cannot be parsed."""

    @property
    def line(self) -> int:
        return self.first.line

    @property
    def col(self) -> int:
        return self.first.col


class DslValidationError(DiagnosticsError):
    """The tree parses but has errors (unknown targets, cycles, …)."""


class PolicyError(DiagnosticsError):
    """A file of the policy project is invalid."""


class CompileError(TierlineError):
    """Policy cannot be compiled to SQL."""


class StoreError(TierlineError):
    """The store cannot be opened, migrated or queried."""


class IngestError(TierlineError):
    """An import cannot run at all (a missing file, an unknown kind or preset)."""


class EngineError(TierlineError):
    """Assignment, an override or a run cannot proceed."""


class DeliveryError(TierlineError):
    """An action could not be delivered."""


class AuthError(TierlineError):
    """The caller is not allowed to do this."""


class UsageError(TierlineError):
    """A command was called with arguments that cannot work together."""
