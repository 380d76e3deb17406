"""Memoised SQL text: the statements a run builds from the policy, built once per project.

The engine generates its SQL from the project (inline tables of track, milestone and
touchpoint definitions, calendar arithmetic through sqlglot). The text depends only on the
project and a few plain arguments, and a :class:`~tierline.policy.model.Project` is
immutable, so :func:`per_project` keeps it: a daily run would otherwise spend a sizeable
share of its time generating the same text again. Entries are keyed by the project's
identity (the cache holds the project, so the identity is not reused while cached) and the
other arguments, which must be hashable; the cache is small and cleared when full.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Concatenate, ParamSpec, TypeVar

from tierline.policy.model import Project

__all__ = ["per_project"]

P = ParamSpec("P")
R = TypeVar("R")

_SIZE = 64


def per_project(fn: Callable[Concatenate[Project, P], R]) -> Callable[Concatenate[Project, P], R]:
    """Memoise ``fn(project, *args, **kwargs)`` per project object and arguments."""
    cache: dict[Hashable, tuple[Project, R]] = {}

    @functools.wraps(fn)
    def wrapper(project: Project, /, *args: P.args, **kwargs: P.kwargs) -> R:
        key = (id(project), args, tuple(sorted(kwargs.items())))
        hit = cache.get(key)
        if hit is not None and hit[0] is project:
            return hit[1]
        value = fn(project, *args, **kwargs)
        if len(cache) >= _SIZE:
            cache.clear()
        cache[key] = (project, value)
        return value

    return wrapper
