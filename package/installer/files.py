"""File helpers that make the installer idempotent (write only what differs) and crash-safe
(new content goes to a temporary name, is synced to disk, then os.replace).  The board
test's power cut found why the sync matters: without it, code installed a minute before
the cut came back as empty files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> bool:
    """Write data atomically unless the file already holds it (and has that mode)."""
    try:
        if path.read_bytes() == data and (path.stat().st_mode & 0o7777) == mode:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def symlink_if_changed(link: Path, target: str) -> bool:
    """Make link point to target unless it already does."""
    if link.is_symlink() and os.readlink(link) == target:
        return False
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return True


def remove(path: Path) -> bool:
    """Remove a file, link or folder if present."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return True
    if path.is_dir():
        shutil.rmtree(path)
        return True
    return False


def replace_tree(source: Path, dest: Path, names: list[str]) -> None:
    """Copy the top-level entries ``names`` of source into dest, each swapped in by rename
    so a crash leaves either the old or the new copy of an entry, never a mix inside it."""
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in names:
        src, new, old = source / name, dest / f".{name}.new", dest / f".{name}.old"
        remove(new)
        remove(old)
        if src.is_dir():
            shutil.copytree(src, new, ignore=ignore)
        else:
            shutil.copy2(src, new)
        os.sync()  # the new copy is on disk before it takes the old one's name
        if (dest / name).exists() or (dest / name).is_symlink():
            os.replace(dest / name, old)
        os.replace(new, dest / name)
        remove(old)
