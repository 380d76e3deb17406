"""Decision DAG DSL: parse, model, validate, canonical JSON, render, draw and walk."""

from tierline.dsl.canonical import load_tree_json, tree_from_json, tree_to_json
from tierline.dsl.export import EXPORTERS, export_tree
from tierline.dsl.layout import layout_tree, tree_to_dsl
from tierline.dsl.model import Answer, Header, Outcome, Question, Span, Target, Tree
from tierline.dsl.parser import load_tree, parse_target, parse_tree
from tierline.dsl.validate import check_tree, validate_tree
from tierline.dsl.walk import Step, Walk, WalkError, ask_tree, walk_json, walk_tree

__all__ = [
    "EXPORTERS",
    "Answer",
    "Header",
    "Outcome",
    "Question",
    "Span",
    "Step",
    "Target",
    "Tree",
    "Walk",
    "WalkError",
    "ask_tree",
    "check_tree",
    "export_tree",
    "layout_tree",
    "load_tree",
    "load_tree_json",
    "parse_target",
    "parse_tree",
    "tree_from_json",
    "tree_to_dsl",
    "tree_to_json",
    "validate_tree",
    "walk_json",
    "walk_tree",
]
