"""The policy version: a content hash of every policy file of a project.

Every decision records the version of the policy that made it, so the hash covers exactly
the files that can change a decision or an action: ``tierline.yaml``, ``metrics.yaml`` and
everything under ``trees/``, ``rules/``, ``tracks/``, ``triggers/`` and ``templates/``.
The store (``.tierline/``), hidden files (editor droppings such as ``.DS_Store``) and
anything else in the folder are ignored.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["POLICY_DIRS", "POLICY_FILES", "policy_files", "project_version"]

POLICY_FILES: tuple[str, ...] = ("tierline.yaml", "metrics.yaml")
POLICY_DIRS: tuple[str, ...] = ("trees", "rules", "tracks", "triggers", "templates")
VERSION_LENGTH = 12


def policy_files(root: Path) -> list[str]:
    """The project's policy files as sorted POSIX paths relative to ``root``."""
    found: list[str] = [name for name in POLICY_FILES if (root / name).is_file()]
    for folder in POLICY_DIRS:
        base = root / folder
        if base.is_dir():
            found.extend(
                p.relative_to(root).as_posix()
                for p in base.rglob("*")
                if p.is_file() and not p.name.startswith(".")
            )
    return sorted(found)


def project_version(root: Path) -> str:
    """The first 12 hex digits of the sha256 over the sorted paths and bytes of policy files.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "tierline.yaml").write_text("name: x\\n")
    >>> len(project_version(d))
    12
    """
    digest = hashlib.sha256()
    for rel in policy_files(root):
        data = (root / rel).read_bytes()
        digest.update(rel.encode("utf-8") + b"\0")
        digest.update(str(len(data)).encode("ascii") + b"\0")
        digest.update(data)
    return digest.hexdigest()[:VERSION_LENGTH]
