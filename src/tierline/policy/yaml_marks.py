"""YAML with line marks: mappings and sequences that remember where their parts were.

PyYAML forgets positions once it builds Python objects. :class:`MarkedLoader` is a
``SafeLoader`` whose mappings are :class:`MarkedDict` (each key's and value's position)
and whose sequences are :class:`MarkedList` (each item's position), so that a validation
error found later can point at the exact key or value in the file.

Two deliberate departures from plain YAML 1.1, because policy files are configuration:

- mapping keys are always the text as written (``null:``, ``yes:`` and ``1:`` are the
  strings ``"null"``, ``"yes"`` and ``"1"``, never None, True or 1);
- a key written twice in one mapping is reported (:attr:`MarkedLoader.duplicates`)
  instead of the last one silently winning.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "Duplicate",
    "MarkedDict",
    "MarkedList",
    "MarkedLoader",
    "Pos",
    "YamlProblem",
    "parse_marked",
]


@dataclass(frozen=True)
class Pos:
    """A 1-based position in a YAML file; ``style`` is the scalar style (``'``, ``"``, …)."""

    line: int = 1
    col: int = 1
    length: int = 1
    style: str | None = None

    @property
    def content_col(self) -> int:
        """The column of a scalar's first character of content (after an opening quote)."""
        return self.col + 1 if self.style in ("'", '"') else self.col


def _pos(node: Node) -> Pos:
    start, end = node.start_mark, node.end_mark
    same_line = start.line == end.line
    length = max(1, end.column - start.column) if same_line else 1
    style = node.style if isinstance(node, ScalarNode) else None
    if isinstance(node, ScalarNode) and style in ("|", ">"):
        # Block scalars: the content starts on the line after the indicator.
        return Pos(start.line + 2, _block_indent(node) + 1, 1, style)
    return Pos(start.line + 1, start.column + 1, length, style)


def _block_indent(node: ScalarNode) -> int:
    buffer = node.start_mark.buffer
    if buffer is None:
        return node.start_mark.column
    lines = str(buffer).splitlines()
    for text in lines[node.start_mark.line + 1 :]:
        if text.strip():
            return len(text) - len(text.lstrip(" "))
    return node.start_mark.column


class MarkedDict(dict[str, object]):
    """A dict that knows the position of each key and each value, and its own start."""

    def __init__(self, start: Pos | None = None) -> None:
        super().__init__()
        self.start = start or Pos()
        self.key_pos: dict[str, Pos] = {}
        self.value_pos: dict[str, Pos] = {}


class MarkedList(list[object]):
    """A list that knows the position of each item, and its own start."""

    def __init__(self, start: Pos | None = None) -> None:
        super().__init__()
        self.start = start or Pos()
        self.item_pos: list[Pos] = []


@dataclass(frozen=True)
class Duplicate:
    """A key written twice in one mapping: where it is now and where it was first."""

    key: str
    pos: Pos
    first: Pos


@dataclass(frozen=True)
class YamlProblem:
    """A YAML syntax problem at a position."""

    message: str
    pos: Pos
    hint: str | None = None


class MarkedLoader(yaml.SafeLoader):
    """A SafeLoader that builds :class:`MarkedDict` / :class:`MarkedList` containers."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[Duplicate] = []
        self.bad_keys: list[YamlProblem] = []


def _construct_mapping(loader: MarkedLoader, node: Node) -> MarkedDict:
    assert isinstance(node, MappingNode)
    loader.flatten_mapping(node)
    result = MarkedDict(_pos(node))
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            loader.bad_keys.append(
                YamlProblem("a key must be a plain name, not a list or mapping", _pos(key_node))
            )
            continue
        key = str(key_node.value)
        key_pos = _pos(key_node)
        if key in result:
            loader.duplicates.append(Duplicate(key, key_pos, result.key_pos[key]))
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_pos[key] = Pos(key_pos.line, key_pos.col, max(1, len(key)), key_pos.style)
        result.value_pos[key] = _pos(value_node)
    return result


def _construct_sequence(loader: MarkedLoader, node: Node) -> MarkedList:
    assert isinstance(node, SequenceNode)
    result = MarkedList(_pos(node))
    for item in node.value:
        result.append(loader.construct_object(item, deep=True))
        result.item_pos.append(_pos(item))
    return result


MarkedLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
MarkedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def parse_marked(text: str) -> tuple[object, list[Duplicate], list[YamlProblem]]:
    """Parse one YAML document into marked containers.

    Returns the data (None for an empty document), the duplicate keys, and the problems
    (YAML syntax errors at PyYAML's mark, keys that are not names). On a syntax error the
    data is None.

    >>> data, dups, problems = parse_marked("a: 1\\nb: [x, y]\\n")
    >>> data.value_pos["b"].line, data["b"].item_pos[1].col
    (2, 8)
    """
    loader = MarkedLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(mark.line + 1, mark.column + 1) if mark is not None else Pos()
        problem = exc.problem or exc.context or "invalid YAML"
        hint = None
        if exc.context and exc.problem and exc.context_mark is not None:
            hint = f"{exc.context} (line {exc.context_mark.line + 1})"
        return None, [], [YamlProblem(f"invalid YAML: {problem}", pos, hint)]
    except yaml.YAMLError as exc:
        return None, [], [YamlProblem(f"invalid YAML: {exc}", Pos())]
    finally:
        loader.dispose()
    return data, loader.duplicates, loader.bad_keys
