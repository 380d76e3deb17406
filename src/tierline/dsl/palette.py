"""Outcome colours for drawings: accept only safe colour values, pick a readable text colour."""

from __future__ import annotations

import re

__all__ = ["safe_color", "text_color"]

_HEX_RE = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_NAME_RE = re.compile(r"^[a-zA-Z]{3,20}$")
_DARK = "#111827"
_LIGHT = "#ffffff"


def safe_color(value: str | None) -> str | None:
    """``value`` as a lower-case colour (``#abc`` → ``#aabbcc``) or name, else None.

    Short hex forms are widened because Graphviz reads only the long ones.
    """
    if value is None:
        return None
    value = value.strip().lower()
    if _HEX_RE.match(value):
        digits = value[1:]
        return "#" + ("".join(c * 2 for c in digits) if len(digits) in (3, 4) else digits)
    if _NAME_RE.match(value):
        return value
    return None


def text_color(fill: str) -> str:
    """A text colour that reads well on ``fill``: white on dark fills, near-black otherwise."""
    if not fill.startswith("#"):
        return _DARK
    digits = fill[1:]
    if len(digits) in (3, 4):
        digits = "".join(c * 2 for c in digits)
    red, green, blue = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else float(((c + 0.055) / 1.055) ** 2.4)

    luminance = 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)
    # Contrast against white vs against near-black: pick the larger.
    return _LIGHT if (1.05 / (luminance + 0.05)) >= (luminance + 0.05) / 0.0565 else _DARK
