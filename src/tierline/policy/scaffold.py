"""Create a policy project from the seed pack shipped in ``tierline/packs/seed``.

The pack holds ``tierline.yaml``, the seed tree (byte-identical to the source), the seed
rule tables and the folders later features fill (tracks, triggers, templates) with a
README each. :func:`init_project` copies it byte for byte.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from tierline.errors import UsageError

__all__ = ["GITIGNORE", "init_project", "seed_pack_files"]

GITIGNORE = ".tierline/\n"


def _walk(node: Traversable, prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], bytes]]:
    out: list[tuple[tuple[str, ...], bytes]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name.startswith(".") or child.name == "__pycache__":
            continue
        if child.is_dir():
            out.extend(_walk(child, (*prefix, child.name)))
        elif child.is_file():
            out.append(((*prefix, child.name), child.read_bytes()))
    return out


def seed_pack_files() -> list[tuple[str, bytes]]:
    """Every file of the seed pack as (POSIX path relative to the pack, bytes), sorted."""
    pack = resources.files("tierline").joinpath("packs", "seed")
    if not pack.is_dir():
        raise UsageError("the seed pack is missing from this tierline installation")
    return [("/".join(parts), data) for parts, data in _walk(pack, ())]


def init_project(target: Path, force: bool = False) -> list[Path]:
    """Copy the seed pack into ``target`` (created if needed); the files written, in order.

    Refuses a folder that is not empty unless ``force`` (then pack files are overwritten and
    anything else there is left alone). Also writes a ``.gitignore`` for the store folder
    when the project has none.
    """
    if target.exists() and not target.is_dir():
        raise UsageError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise UsageError(
            f"{target} is not empty; choose a new folder, or pass --force to write the "
            "seed pack into it (its files are overwritten, others are kept)"
        )
    files = seed_pack_files()
    written: list[Path] = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for rel, data in files:
            dest = target.joinpath(*rel.split("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            written.append(dest)
        ignore = target / ".gitignore"
        if not ignore.exists():
            ignore.write_text(GITIGNORE, encoding="utf-8")
            written.append(ignore)
    except OSError as exc:
        raise UsageError(f"cannot create the project in {target}: {exc.strerror or exc}") from exc
    return written
