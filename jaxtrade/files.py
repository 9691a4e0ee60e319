"""Files replaced whole or not at all (the ground floor: used by the feature cache and the run history)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def replace_file(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder, forced to disk, then renamed over it:
    a reader (or a crash at any point) sees the old contents or the new, never a truncated file. The temporary
    file is removed if the write fails.

    Raises:
      OSError: the folder cannot be written (read-only, full, missing).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
