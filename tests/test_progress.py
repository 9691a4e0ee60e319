"""Progress lines: the bar's counts, elapsed time and ETA; the compile message and its live counter."""

from __future__ import annotations

import io
import time

import pytest

from jaxtrade.progress import Progress, duration, working


def test_duration():
    assert [duration(s) for s in (0, 7.4, 754, 3723, -1)] == ["0:00", "0:07", "12:34", "1:02:03", "0:00"]


def test_bar_counts_and_extrapolates_the_measured_rate():
    now = [100.0]
    bar = Progress(200, done=40, unit="updates", clock=lambda: now[0])  # a resumed run: 40 done before
    assert str(bar).endswith("0:00 elapsed, ETA ?")  # nothing measured yet
    now[0] += 30.0
    bar.advance(20)  # 20 units in 30 s -> 140 left take 210 s
    assert bar.eta == pytest.approx(210.0)
    text = str(bar)
    assert text.startswith("[######--------------]  60/200 updates  30% |")
    assert text.endswith("0:30 elapsed, ETA 3:30")
    bar.advance(1000)  # clipped at the total
    assert bar.done == 200 and bar.eta == 0.0 and "[####################] 200/200" in str(bar)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_working_says_what_and_how_long_and_ticks_on_a_terminal():
    lines, tty = [], _Terminal()
    with working("compiling the program", lines.append, stream=tty, every=0.02):
        time.sleep(0.15)
    assert lines[0] == "compiling the program ..."
    assert lines[1].startswith("compiling the program: done in ") and lines[1].endswith(" s")
    drawn = tty.getvalue()
    assert drawn.count("\r  compiling the program: 0:00") >= 2  # redrawn in place while it ran
    assert drawn.endswith("\r\033[K")  # and cleared before the closing line

    redirected = io.StringIO()  # not a terminal: the two lines only
    with working("x", lines.append, stream=redirected, every=0.01):
        time.sleep(0.05)
    assert redirected.getvalue() == ""


def test_working_reports_no_success_on_an_error():
    lines = []
    with pytest.raises(ValueError), working("step", lines.append, stream=io.StringIO()):
        raise ValueError("boom")
    assert lines == ["step ..."]
