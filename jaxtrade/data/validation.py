"""One symbol's bars checked before anything reaches the device (`validate_frame`): every bad row named (or made
a gap), days without trading made gaps, likely unadjusted splits logged, the clean columns returned."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from jaxtrade.data.columns import _NAT, _OPTIONAL, PRICE_RANGE, VOLUME_MAX, _parse_time, _plain, _rename_columns, _Where
from jaxtrade.data.types import NUM_AUX, DataError

logger = logging.getLogger(__name__)

BAD_ROWS = ("error", "drop")  # what a loader does with bad rows
SHOWN_BAD_ROWS = 20  # an error lists at most this many bad rows of a file
SPLIT_FACTOR = 3.0  # a close this many times the last (or a third of it) is named as a likely unadjusted split


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def _row_problems(df: pd.DataFrame, numeric: dict[str, np.ndarray], time: np.ndarray) -> dict[int, tuple]:
    """Every bad row: row -> (column, message, reason), the first problem found in it. Checks, in order: values
    that are NaN, inf or not numbers; prices <= 0; volume < 0; values float32 cannot hold; high < low; open or
    close outside [low, high]; timestamps that do not parse; a timestamp repeating the row before."""
    problems: dict[int, tuple] = {}

    def flag(mask, column, message, reason):
        for row in np.flatnonzero(mask):
            problems.setdefault(int(row), (column, message(int(row)), reason))

    for col, values in numeric.items():
        flag(~np.isfinite(values), col, lambda r, c=col: f"value {_plain(df[c].iloc[r])} is NaN, inf or not a "
             f"number", "NaN, inf or not a number")
    ok = {c: np.where(np.isfinite(v), v, 1.0) for c, v in numeric.items()}  # later checks skip those cells
    for col in ("open", "high", "low", "close", "adj_close"):
        if col in ok:
            flag(ok[col] <= 0, col, lambda r, c=col: f"price {_plain(ok[c][r])} is not positive", "price <= 0")
    flag(ok["volume"] < 0, "volume", lambda r: f"volume {_plain(ok['volume'][r])} is negative", "negative volume")
    # Everything runs in float32 on the device: refuse what it cannot hold with room for the arithmetic.
    lo_ok, hi_ok = PRICE_RANGE
    for col in ("open", "high", "low", "close", "adj_close"):
        if col in ok:
            flag((ok[col] < lo_ok) | (ok[col] > hi_ok), col,
                 lambda r, c=col: f"price {_plain(ok[c][r])} is outside the range float32 arithmetic keeps exact "
                                  f"enough, [{lo_ok:g}, {hi_ok:g}]: rescale the series (quote it in other units)",
                 "price outside the float32 range")
    flag(ok["volume"] > VOLUME_MAX, "volume", lambda r: f"volume {_plain(ok['volume'][r])} exceeds {VOLUME_MAX:g} "
         f"(float32 overflows past 3.4e38): rescale it (e.g. in thousands)", "volume outside the float32 range")
    o, h, lo, c = (ok[k] for k in ("open", "high", "low", "close"))
    flag(h < lo, "high", lambda r: f"high {_plain(h[r])} is below low {_plain(lo[r])}", "high below low")
    for name, x in (("open", o), ("close", c)):
        flag((x > h) | (x < lo), name, lambda r, n=name, x=x: f"{n} {_plain(x[r])} lies outside the bar's range "
             f"[{_plain(lo[r])}, {_plain(h[r])}]", f"{name} outside the bar's range")
    flag(time == _NAT, "time", lambda r: f"cannot parse timestamp {df['time'].iloc[r]!r}", "unparseable timestamp")
    parsed = np.flatnonzero(time != _NAT)
    again = parsed[1:][np.diff(time[parsed]) == 0]
    flag(np.isin(np.arange(len(time)), again), "time",
         lambda r: f"duplicate timestamp {time[r].astype('datetime64[s]')} (same as the row before it)",
         "duplicate timestamp")
    return problems


def validate_frame(
    df: pd.DataFrame,
    source: str,
    *,
    lines: np.ndarray | None = None,
    time_format: str | None = None,
    adjust: bool = True,
    min_bars: int = 2,
    on_bad_rows: str = "error",
    close_only: bool = False,
    time_unit: str | None = None,
) -> dict[str, Any]:
    """Check one symbol's bars and return clean float64 columns plus int64 UTC seconds.

    A row whose prices are all empty (NaN) and whose volume is empty or 0 is a day without trading: a gap, never
    an error. Every
    other bad row (`_row_problems`) is an error listing all of them (up to `SHOWN_BAD_ROWS`), or with
    `on_bad_rows="drop"` a gap too, counted by reason in "dropped". A one-bar move of the close beyond a factor
    of 3 is logged as a likely unadjusted split.

    Args:
      df: one symbol's bars with time, open, high, low, close, volume columns
        (any case, common aliases), and optionally adj_close, sentiment, aux_0..2.
      source: the name used in error messages (file path, symbol).
      lines: for CSV files, the file line of each row (header = line 1), so
        errors quote editor line numbers; None reports 0-based rows.
      time_format: strftime format of the time column, None to infer.
      adjust: scale open/high/low/close by adj_close/close (and volume by its
        inverse) when an adjusted close is given.
      min_bars: fewer bars than this (after gaps) is an error.
      on_bad_rows: "error" or "drop".
      close_only: the bars are closes alone (`_rename_columns`).
      time_unit: epoch timestamps in this unit ("s", "ms", "us", "ns"); None: dates as text.

    Returns:
      dict with "time" (N,) int64 seconds, "ohlcv" (N, 5) float64, when present "sentiment" (N,) and "aux"
      (N, 3), and "dropped": {reason: rows} with "day without trading" among the reasons.
    """
    if on_bad_rows not in BAD_ROWS:
        raise DataError(f"on_bad_rows: {on_bad_rows!r} is not one of {list(BAD_ROWS)}")
    where = _Where(source, lines)
    df = _rename_columns(df, source, close_only).reset_index(drop=True)
    columns = ("open", "high", "low", "close", "volume", *[c for c in _OPTIONAL if c in df])
    numeric = {col: pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64) for col in columns}
    volume = numeric["volume"]
    no_trading = (np.all([np.isnan(numeric[k]) for k in ("open", "high", "low", "close")], axis=0)
                  & (np.isnan(volume) | (volume == 0)))
    dropped = {"day without trading": int(no_trading.sum())} if no_trading.any() else {}
    keep = ~no_trading
    df, numeric = df[keep].reset_index(drop=True), {k: v[keep] for k, v in numeric.items()}
    where = _Where(source, None if lines is None else np.asarray(lines)[keep])
    time = _parse_time(df["time"], where, time_format, time_unit)

    df, numeric, time, where = _without_bad_rows(df, numeric, time, where, source, on_bad_rows, dropped)
    n = len(df)
    if n < min_bars:
        left = f" ({sum(dropped.values())} rows made gaps)" if dropped else ""
        raise DataError(f"{source}: series too short: {n} bars{left}, at least {min_bars} needed (a run needs the "
                        f"features' warm-up, the observation window and one step: lower features.norm_window "
                        f"or window, or give more bars)")
    bad = _first(np.diff(time) < 0)
    if bad is not None:
        raise DataError(
            f"{where(bad + 1, 'time')}: timestamps not sorted: {time[bad + 1].astype('datetime64[s]')}"
            f" comes after {time[bad].astype('datetime64[s]')}"
        )
    _warn_unadjusted_splits(numeric["close"], time, where)
    return _columns(numeric, time, source, adjust, dropped)


def _without_bad_rows(df: pd.DataFrame, numeric: dict[str, np.ndarray], time: np.ndarray, where: _Where,
                      source: str, on_bad_rows: str, dropped: dict[str, int]):
    """(df, numeric, time, where) without the bad rows (`_row_problems`), each counted by reason in `dropped`,
    under on_bad_rows "drop"; under "error" one error listing them (up to `SHOWN_BAD_ROWS`)."""
    problems = _row_problems(df, numeric, time)
    if not problems:
        return df, numeric, time, where
    if on_bad_rows == "error":
        rows = sorted(problems)
        shown = [f"{where(r, problems[r][0])}: {problems[r][1]}" for r in rows[:SHOWN_BAD_ROWS]]
        more = f"\n  ... and {len(rows) - SHOWN_BAD_ROWS} more" if len(rows) > SHOWN_BAD_ROWS else ""
        raise DataError(f"{source}: {len(rows)} bad row(s); fix them, or load with on_bad_rows='drop' "
                        f"(config: data.on_bad_rows: drop) to make each a gap:\n  " + "\n  ".join(shown) + more)
    for _, _, reason in problems.values():
        dropped[reason] = dropped.get(reason, 0) + 1
    good = ~np.isin(np.arange(len(df)), list(problems))
    return (df[good].reset_index(drop=True), {k: v[good] for k, v in numeric.items()}, time[good],
            _Where(source, None if where.lines is None else where.lines[good]))


def _warn_unadjusted_splits(c: np.ndarray, time: np.ndarray, where: _Where) -> None:
    """Log the first few one-bar moves of the close beyond `SPLIT_FACTOR` (likely unadjusted splits)."""
    jumps = np.flatnonzero((c[1:] > SPLIT_FACTOR * c[:-1]) | (c[1:] * SPLIT_FACTOR < c[:-1])) + 1
    for r in jumps[:5]:
        logger.warning("%s: the close moves x%.2f in one bar (%s -> %s) on %s: likely an unadjusted split or "
                       "reverse split; give an adjusted close (adj_close) or adjust the file", where(int(r), "close"),
                       c[r] / c[r - 1], _plain(c[r - 1]), _plain(c[r]), time[r].astype("datetime64[s]"))


def _columns(numeric: dict[str, np.ndarray], time: np.ndarray, source: str, adjust: bool,
             dropped: dict[str, int]) -> dict[str, Any]:
    """`validate_frame`'s output: the bars (adjusted by adj_close when asked), the optional columns, and the
    note of the rows made gaps."""
    o, h, lo, c = (numeric[k] for k in ("open", "high", "low", "close"))
    volume = numeric["volume"]
    if adjust and "adj_close" in numeric:
        factor = numeric["adj_close"] / c
        o, h, lo, c, volume = o * factor, h * factor, lo * factor, c * factor, volume / factor
    out: dict[str, Any] = {"time": time, "ohlcv": np.stack([o, h, lo, c, volume], axis=-1), "dropped": dropped}
    if dropped:
        out["note"] = f"{source}: {sum(dropped.values())} row(s) made gaps: " + ", ".join(
            f"{k} {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1]))
        logger.warning("%s", out["note"])
    if "sentiment" in numeric:
        out["sentiment"] = numeric["sentiment"]
    aux_cols = [c for c in ("aux_0", "aux_1", "aux_2") if c in numeric]
    if aux_cols:
        if len(aux_cols) != NUM_AUX:
            raise DataError(f"{source}: aux columns need all of aux_0, aux_1, aux_2; found {aux_cols}")
        out["aux"] = np.stack([numeric[k] for k in aux_cols], axis=-1)
    return out


__all__ = ["BAD_ROWS", "SHOWN_BAD_ROWS", "SPLIT_FACTOR", "validate_frame"]
