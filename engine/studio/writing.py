"""Reading a flow file's version and writing a new text over it, never half written.

A save writes a temporary file in the same folder (so the rename stays on one file system),
flushes and syncs it to the disk, gives it the old file's permissions, then renames it over
the flow (``os.replace``: atomic on POSIX and Windows). Whoever reads the file meanwhile (the
engine's watcher, ``engine lint``) sees the old text or the new, never a part; if anything
fails before the rename, the old file is untouched and the temporary file is removed. The
temporary file's name (``.NAME.…saving``) is not a flow file's, so the watcher never takes it.

These functions block (disk I/O): the studio calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from ..flow.lint import read_file
from ..flow.source import SourceError

__all__ = ["normalized", "read_current", "write_atomically"]


def normalized(text: str) -> str:
    """The text a browser sent (a textarea sends CRLF line ends) with plain ``\\n`` ones."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_current(path: Path) -> str:
    """The file's text as the registry reads it (its version is that text's).
    ``OSError`` when it cannot be read."""
    try:
        return read_file(path)
    except SourceError as exc:  # too large, or not UTF-8: still a version to compare
        return exc.text


def write_atomically(path: Path, text: str, new_mode: int = 0o644) -> None:
    """Replace the file's content with ``text`` (UTF-8), all or nothing; a file that did not
    exist gets ``new_mode``. Raises ``OSError`` (the file is then as it was)."""
    target = path.resolve()  # a link inside the folder: write its file, keep the link
    data = text.encode("utf-8")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = new_mode
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".saving", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    # The rename itself on disk too (a crash right after must not bring the old text back).
    with contextlib.suppress(OSError):
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
