"""Files replaced whole: written under a hidden temporary name beside the target, then renamed over it,
so a reader (another process, the next run after a crash) sees the old file or the new one, never half.

>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> replace_text(folder / "state.json", '{"port": 8089}')
>>> (folder / "state.json").read_text(), sorted(p.name for p in folder.iterdir())
('{"port": 8089}', ['state.json'])
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path


def replace_file(path: Path, write: Callable[[Path], object], durable: bool = False, prefix: str = ".") -> None:
    """Let `write` fill a temporary file beside `path`, then rename it over `path`.

    The temporary file is named `prefix` + the target's name + the writer's process and thread (two
    writers never share one); it is removed when `write` or the rename fails, and the error propagates.
    `durable`: the file and its folder are synced to disk before and after the rename (a pointer that
    must survive a power cut).
    """
    partial = path.with_name(f"{prefix}{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        write(partial)
        if durable:
            _sync(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if durable:
        _sync(path.parent)


def replace_text(path: Path, text: str, durable: bool = False, prefix: str = ".") -> None:
    """`replace_file` with `text` as the new content (UTF-8)."""
    replace_file(path, lambda partial: partial.write_text(text, encoding="utf-8"), durable, prefix)


def replace_bytes(path: Path, data: bytes, prefix: str = ".") -> None:
    """`replace_file` with `data` as the new content."""
    replace_file(path, lambda partial: partial.write_bytes(data), prefix=prefix)


def _sync(path: Path) -> None:
    """Flush a file's or a folder's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
