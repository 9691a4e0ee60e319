"""What a long host-side step is doing, and how far along a loop is: compile messages, bars with ETA.

Two helpers for the workflows (training, sweeps, backtests), both writing their
lines through a `log` callable (default `print`; None: silent):

    with working("compiling the training program (10 updates per chunk)", log):
        compiled = run_chunk.lower(...).compile()
    # -> "compiling the training program (10 updates per chunk) ..."
    #    "compiling the training program (10 updates per chunk): done in 41.2 s"

    bar = Progress(total=200, done=0, unit="updates")
    for ...:
        bar.advance(10)
        log(f"{bar} | ...")   # "[####----------------]  40/200 updates  20% | 0:31 elapsed, ETA 2:04"

On an interactive terminal (`stream.isatty()`), `working` also redraws an
elapsed-seconds counter in place every second while the step runs, so a long
compile never looks like a hang; redirected output gets only the two lines.
The ETA extrapolates the rate of the units done since the bar was made (a resumed
run's earlier units and compile time are not counted).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

Log = Callable[[str], None]


def duration(seconds: float) -> str:
    """'0:07', '12:34', '1:02:03'."""
    s = int(round(max(seconds, 0.0)))
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """A text progress bar over `total` units, with elapsed time and an ETA from the rate measured so far."""

    def __init__(self, total: int, done: int = 0, unit: str = "", width: int = 20,
                 clock: Callable[[], float] = time.perf_counter):
        self.total, self.done, self.unit, self.width, self.clock = total, done, unit, width, clock
        self.first = done  # units done before this process started (a resumed run): no time measured for them
        self.start = clock()

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate measured since the bar was made (None before any unit is done)."""
        measured = self.done - self.first
        return self.elapsed / measured * (self.total - self.done) if measured > 0 else None

    def __str__(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = int(share * self.width)
        eta = self.eta
        digits = len(str(self.total))
        return (f"[{'#' * filled}{'-' * (self.width - filled)}] {self.done:>{digits}}/{self.total}"
                f"{' ' + self.unit if self.unit else ''} {share:>4.0%} | {duration(self.elapsed)} elapsed, ETA "
                + ("?" if eta is None else duration(eta)))


@contextmanager
def working(what: str, log: Log | None = print, stream: TextIO | None = None,
            every: float = 1.0) -> Iterator[None]:
    """Say `what` is being done, redraw its elapsed time on a terminal while it runs, then say how long it took.

    Args:
      what: e.g. "compiling the training program".
      log: line sink (None: silent, no ticker).
      stream: where the live counter is drawn (default stderr); drawn only when it is a terminal.
      every: seconds between redraws.
    """
    if log is None:
        yield
        return
    stream = sys.stderr if stream is None else stream
    log(f"{what} ...")
    start = time.perf_counter()
    stop = threading.Event()
    ticker = None
    if stream.isatty():
        def tick():
            while not stop.wait(every):
                stream.write(f"\r  {what}: {duration(time.perf_counter() - start)} ")
                stream.flush()
            stream.write("\r\033[K")  # clear the counter before the closing line
            stream.flush()
        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
    try:
        yield
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
    log(f"{what}: done in {time.perf_counter() - start:.1f} s")


__all__ = ["Progress", "duration", "working"]
