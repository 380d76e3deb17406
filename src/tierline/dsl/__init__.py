"""Decision DAG DSL: parse, model, validate, canonical JSON, render."""

from tierline.dsl.model import Answer, Header, Outcome, Question, Span, Target, Tree

__all__ = ["Answer", "Header", "Outcome", "Question", "Span", "Target", "Tree"]
