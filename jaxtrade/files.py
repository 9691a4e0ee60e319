"""Files replaced whole or not at all, and writes that a signal does not cut in half (the ground floor: used by
the feature cache, the run history and checkpoints)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

if sys.platform == "win32":  # fcntl is POSIX only; JAX ships CPU wheels for Windows
    import msvcrt

    def _try_lock(handle) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # the first byte stands for the whole file
        except OSError:
            return False
        return True

    def _unlock(handle) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(handle) -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(handle) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)


def lock_file(path: str | os.PathLike):
    """Open `path` and hold an exclusive lock on it for this process, with our process id written in it; the OS
    drops the lock if the process dies (flock on POSIX, msvcrt.locking on Windows). Release with `unlock_file`.

    Returns:
      The open handle, or the text the holder wrote (its process id, or "unknown") when another process holds
      the lock, as a str.
    """
    handle = Path(path).open("a+")
    if not _try_lock(handle):
        try:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
        except OSError:  # Windows: the holder's locked byte cannot be read
            owner = "unknown"
        handle.close()
        return owner
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def unlock_file(handle) -> None:
    """Release and close a handle `lock_file` returned."""
    _unlock(handle)
    handle.close()


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


@contextmanager
def deferred_signals(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)):
    """Hold Ctrl-C and SIGTERM that arrive inside the block until it ends, then deliver them to the handlers in
    force before: a checkpoint or history write is finished, never cut in half. Outside the main thread (where
    Python cannot catch signals) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: held.append(signum)) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(held):
            signal.raise_signal(s)
