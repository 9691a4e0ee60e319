"""Load OHLCV bars from CSV, parquet or pandas frames into one aligned `MarketData`.

Every file is validated before anything reaches the device. A problem raises
`DataError` naming the source, the column and the row (for CSV files the line
number as a text editor shows it, header = line 1).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxtrade.data.types import NUM_AUX, SECONDS_PER_DAY, DataError, MarketData

PathLike = str | os.PathLike
logger = logging.getLogger(__name__)

# Accepted spellings of each column (matched case-insensitively, spaces/dashes as underscores).
_ALIASES: dict[str, tuple[str, ...]] = {
    "time": ("timestamp", "time", "date", "datetime", "gmt_time", "local_time"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "last"),
    "volume": ("volume", "vol", "v"),
    "adj_close": ("adj_close", "adjusted_close", "adjclose", "adjusted"),  # `adjusted`: tidyquant's name
    "sentiment": ("sentiment",),
    "aux_0": ("aux_0", "p_down"),
    "aux_1": ("aux_1", "p_flat"),
    "aux_2": ("aux_2", "p_up"),
}
_REQUIRED = ("time", "open", "high", "low", "close", "volume")
_OPTIONAL = ("adj_close", "sentiment", "aux_0", "aux_1", "aux_2")
_SYMBOL_ALIASES = ("symbol", "ticker", "tic")  # `tic`: FinRL's long frames
TIME_UNITS = ("s", "ms", "us", "ns")  # epoch timestamps: `time_unit`
PRICE_RANGE = (1e-12, 1e12)  # prices the float32 env and features handle (ratios, logs, units x price)
VOLUME_MAX = 1e30


def _canon(name: str) -> str:
    return str(name).strip().lower().replace(" ", "_").replace("-", "_")


class _Where:
    """Formats 'source: column X, line/row N' for error messages."""

    def __init__(self, source: str, lines: np.ndarray | None):
        self.source = source
        self.lines = lines  # CSV: file line of each row; else None (0-based rows)

    def __call__(self, position: int, column: str | None = None) -> str:
        col = f"column '{column}', " if column else ""
        if self.lines is None:
            return f"{self.source}: {col}row {position}"
        return f"{self.source}: {col}line {int(self.lines[position])}"


def _rename_columns(df: pd.DataFrame, source: str, close_only: bool = False) -> pd.DataFrame:
    """`df` with its recognised columns under their canonical names (`_ALIASES`); with `close_only` the bar is
    the close alone: open = high = low = close, and a volume of 1 where the frame has none."""
    lookup: dict[str, object] = {}
    for c in df.columns:
        if _canon(c) in lookup:
            raise DataError(f"{source}: columns {lookup[_canon(c)]!r} and {c!r} name the same field "
                            f"({_canon(c)!r}); keep one of them")
        lookup[_canon(c)] = c
    mapping = {}
    for field, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in lookup:
                mapping[lookup[alias]] = field
                break
    first = df.columns[0] if len(df.columns) else None
    if "time" not in mapping.values() and isinstance(first, str) and first.startswith("Unnamed: 0"):
        mapping[first] = "time"  # `DataFrame.to_csv()` of a frame indexed by an unnamed date index
    required = ("time", "close") if close_only else _REQUIRED
    missing = [f for f in required if f not in mapping.values()]
    if missing:
        hint = ("" if close_only or "close" not in mapping.values() else
                "; a series of closes only loads with close_only=True (config: data.close_only: true)")
        raise DataError(
            f"{source}: missing required column(s) {missing}; found columns {list(df.columns)}{hint}"
        )
    unused = [c for c in df.columns if c not in mapping and _canon(c) not in _SYMBOL_ALIASES]
    if unused:
        logger.warning("%s: column(s) %s not used (recognised: %s and symbol/ticker)", source, unused,
                       ", ".join(a for aliases in _ALIASES.values() for a in aliases))
    out = df[list(mapping)].rename(columns=mapping)
    if close_only:
        for col in ("open", "high", "low"):
            out[col] = out["close"]
        if "volume" not in out:  # a unit volume on every bar that has a close
            out["volume"] = np.where(pd.to_numeric(out["close"], errors="coerce").isna(), np.nan, 1.0)
    return out


def _parse_time(values: pd.Series, where: _Where, time_format: str | None, time_unit: str | None = None
                ) -> np.ndarray:
    """int64 UTC seconds per row (tz-aware times converted, naive ones taken as UTC; numbers as `time_unit`
    since 1970-01-01 UTC); a row that does not parse is `_NAT`."""
    if time_unit is not None:
        if time_unit not in TIME_UNITS:
            raise DataError(f"time_unit: {time_unit!r} is not one of {list(TIME_UNITS)}")
        if not pd.api.types.is_numeric_dtype(values):
            raise DataError(f"{where(0, 'time')}: time_unit {time_unit!r} is for numeric (epoch) timestamps; "
                            f"this column holds text such as {_plain(values.iloc[0])}: drop time_unit")
        parsed = pd.to_datetime(values, unit=time_unit, errors="coerce", utc=True)
        years = parsed.dropna().dt.year
        if len(years) and (years.min() < 1971 or years.max() > 2200):
            raise DataError(f"{where(0, 'time')}: as {time_unit} since 1970 the timestamps span years {years.min()}"
                            f" to {years.max()}: check time_unit (e.g. 13-digit timestamps are ms, 10-digit s)")
    elif pd.api.types.is_numeric_dtype(values):
        raise DataError(
            f"{where(0, 'time')}: numeric timestamps such as {_plain(values.iloc[0])} are ambiguous: give "
            f"time_unit ('s', 'ms', 'us' or 'ns'; config: data.time_unit) or dates as text"
        )
    else:
        parsed = pd.to_datetime(values, format=time_format, errors="coerce", utc=True)
    if time_unit is None and time_format is None and parsed.isna().any():
        # The format inferred from the first row did not fit every row: parse row by row.
        parsed = pd.to_datetime(values, format="mixed", errors="coerce", utc=True)
    missing = parsed.isna().to_numpy()
    ns = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    return np.where(missing, _NAT, ns.astype(np.int64))


_NAT = np.iinfo(np.int64).min  # a timestamp that did not parse
BAD_ROWS = ("error", "drop")  # what a loader does with bad rows
SHOWN_BAD_ROWS = 20  # an error lists at most this many bad rows of a file
SPLIT_FACTOR = 3.0  # a close this many times the last (or a third of it) is named as a likely unadjusted split


def _plain(value) -> str:
    """A cell as plain text for messages: numbers as Python prints them (3, 1.5, nan, 1e+39), text quoted."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(float(value))
    return repr(str(value)) if value is not None else "empty"


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


def align(series: Mapping[str, dict[str, np.ndarray]]) -> MarketData:
    """Align validated per-symbol series on the union of their timestamps.

    A symbol without a bar at a timestamp gets `valid=False` there; its stored
    prices repeat the last real close (the first real open before its first
    bar) with zero volume, and neutral sentiment/aux. Nothing is interpolated.
    """
    if not series:
        raise DataError("no symbols to load")
    symbols = tuple(series)
    times = np.unique(np.concatenate([s["time"] for s in series.values()]))
    S, T = len(symbols), times.size
    prices = np.zeros((S, T, 5), np.float64)
    valid = np.zeros((S, T), bool)
    sentiment = np.zeros((S, T), np.float64)
    aux = np.full((S, T, NUM_AUX), 1.0 / NUM_AUX)
    for i, sym in enumerate(symbols):
        s = series[sym]
        pos = np.searchsorted(times, s["time"])
        valid[i, pos] = True
        # Index of the latest real bar at or before each timestamp (-1 before the first).
        last = np.maximum.accumulate(np.where(valid[i], np.arange(T), -1))
        src = np.searchsorted(pos, np.maximum(last, 0))
        ohlcv = s["ohlcv"]
        filled_close = np.where(last >= 0, ohlcv[src, 3], ohlcv[0, 0])
        prices[i, :, :4] = filled_close[:, None]
        prices[i, pos] = ohlcv
        if "sentiment" in s:
            sentiment[i, pos] = s["sentiment"]
        if "aux" in s:
            aux[i, pos] = s["aux"]
    return MarketData(
        prices=jnp.asarray(prices, jnp.float32),
        valid=jnp.asarray(valid),
        day=jnp.asarray(times // SECONDS_PER_DAY, jnp.int32),
        second=jnp.asarray(times % SECONDS_PER_DAY, jnp.int32),
        sentiment=jnp.asarray(sentiment, jnp.float32),
        aux=jnp.asarray(aux, jnp.float32),
        symbols=symbols,
        notes=tuple(str(s["note"]) for s in series.values() if "note" in s),
    )


def _split_long(df: pd.DataFrame, source: str, symbol_column: str | None) -> dict[str, pd.DataFrame]:
    """Split a long-format frame (one symbol column) into per-symbol frames, keeping row numbers."""
    lookup = {_canon(c): c for c in df.columns}
    if symbol_column is None:
        symbol_column = next((lookup[a] for a in _SYMBOL_ALIASES if a in lookup), None)
        if symbol_column is None:
            return {}
    elif symbol_column not in df.columns:
        raise DataError(f"{source}: symbol column {symbol_column!r} not found; found {list(df.columns)}")
    names = df[symbol_column]
    blank = _first((names.isna() | (names.astype(str).str.strip() == "")).to_numpy())
    if blank is not None:
        raise DataError(f"{source}: row {blank} has no {symbol_column!r}: every row of a long-format file "
                        f"needs its symbol (fill it in or drop the row)")
    return {str(sym): g for sym, g in df.groupby(symbol_column, sort=False)}


def _csv_lines(path: Path, rows: int) -> np.ndarray:
    """The 1-based file line of each of the `rows` data rows of a CSV (pandas skips blank lines; the header is
    line 1). Where the text does not map row for row (compressed files, quoted line breaks): row + 2."""
    numbers = []
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", errors="replace") as f:
            numbers = [i for i, line in enumerate(f, start=1) if line.strip()][1:]
    if len(numbers) != rows:
        return np.arange(rows, dtype=np.int64) + 2
    return np.asarray(numbers, np.int64)


def _read(path: Path, reader: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        if reader == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except ImportError:  # no parquet engine installed
        raise DataError(f"{path}: reading parquet needs pyarrow, an optional extra: pip install "
                        f"'jaxtrade[parquet]'") from None
    except Exception as exc:  # pandas raises many types; name the file.
        raise DataError(f"{path}: cannot read as {reader}: {exc}") from exc


def _load(
    paths: PathLike | Sequence[PathLike] | Mapping[str, PathLike],
    reader: str,
    *,
    symbols: Sequence[str] | None,
    symbol_column: str | None,
    time_format: str | None,
    adjust: bool,
    min_bars: int,
    on_bad_rows: str,
    close_only: bool = False,
    time_unit: str | None = None,
) -> MarketData:
    if isinstance(paths, (str, os.PathLike)):
        items: list[tuple[str | None, Path]] = [(None, Path(paths))]
    elif isinstance(paths, Mapping):
        items = [(str(k), Path(v)) for k, v in paths.items()]
    else:
        items = [(None, Path(p)) for p in paths]
    if symbols is not None and len(set(symbols)) != len(symbols):
        raise DataError(f"symbols {list(symbols)}: a symbol is listed more than once")
    series: dict[str, dict[str, np.ndarray]] = {}
    for name, path in items:
        df = _read(path, reader)
        line_of_row = _csv_lines(path, len(df)) if reader == "csv" else None
        groups = _split_long(df, str(path), symbol_column if name is None or symbol_column in df else None)
        if name is not None and len(groups) > 1:
            raise DataError(f"{path}: given as the one symbol {name!r} but holds {len(groups)} symbols "
                            f"{sorted(groups)[:5]} in its symbol column; load it without a name (long format)")
        if name is not None or not groups:
            groups = {name or path.stem.split(".")[0]: df}
        for sym, frame in groups.items():
            if symbols is not None and sym not in symbols:
                continue
            if sym in series:
                raise DataError(f"{path}: symbol {sym!r} appears in more than one file")
            # Rows keep their index from the file, so errors quote its line numbers (blank lines counted).
            lines = line_of_row[frame.index.to_numpy()] if line_of_row is not None else None
            series[sym] = validate_frame(
                frame,
                f"{path} [{sym}]" if len(groups) > 1 else str(path),
                lines=lines,
                time_format=time_format,
                adjust=adjust,
                min_bars=min_bars,
                on_bad_rows=on_bad_rows,
                close_only=close_only,
                time_unit=time_unit,
            )
    if symbols is not None:
        missing = [s for s in symbols if s not in series]
        if missing:
            raise DataError(f"symbols {missing} not found in {[str(p) for _, p in items]}")
        series = {s: series[s] for s in symbols}
    return align(series)


def load_csv(
    paths: PathLike | Sequence[PathLike] | Mapping[str, PathLike],
    *,
    symbols: Sequence[str] | None = None,
    symbol_column: str | None = None,
    time_format: str | None = None,
    adjust: bool = True,
    min_bars: int = 2,
    on_bad_rows: str = "error",
    close_only: bool = False,
    time_unit: str | None = None,
) -> MarketData:
    """Load OHLCV bars from CSV file(s) into one aligned `MarketData`.

    Args:
      paths: one file, a list of files (symbol = file stem) or a mapping
        symbol -> file. A file with a `symbol`/`ticker` column holds many symbols.
      symbols: keep only these symbols, in this order (all by default).
      symbol_column: name of the symbol column in long-format files (auto-detected).
      time_format: strftime format of the time column (inferred by default).
      adjust: apply split/dividend adjustment from an adjusted-close column.
      min_bars: each symbol needs at least this many bars.
      on_bad_rows: "error" (default) lists every bad row of a file (up to 20) in one `DataError`; "drop" makes
        each a gap and logs a summary per file and reason (kept in `MarketData.notes`). Rows whose prices and
        volume are all empty (days without trading) are gaps either way.
      close_only: the files hold closes alone (and maybe volume): open = high = low = close, volume 1 where
        there is none. Orders then fill at the next bar's close; the candle features (high_rel, low_rel, body)
        are 0, the gap equals the return, and with no volume rel_volume and volume_regime are 0 too.
      time_unit: the time column holds epoch numbers in this unit ("s", "ms", "us", "ns"); without it numeric
        timestamps are an error.
    """
    return _load(paths, "csv", symbols=symbols, symbol_column=symbol_column, time_format=time_format,
                 adjust=adjust, min_bars=min_bars, on_bad_rows=on_bad_rows, close_only=close_only,
                 time_unit=time_unit)


def load_parquet(
    paths: PathLike | Sequence[PathLike] | Mapping[str, PathLike],
    *,
    symbols: Sequence[str] | None = None,
    symbol_column: str | None = None,
    time_format: str | None = None,
    adjust: bool = True,
    min_bars: int = 2,
    on_bad_rows: str = "error",
    close_only: bool = False,
    time_unit: str | None = None,
) -> MarketData:
    """Load OHLCV bars from parquet file(s); arguments as for `load_csv` (errors quote 0-based rows)."""
    return _load(paths, "parquet", symbols=symbols, symbol_column=symbol_column, time_format=time_format,
                 adjust=adjust, min_bars=min_bars, on_bad_rows=on_bad_rows, close_only=close_only,
                 time_unit=time_unit)


def _field_level(columns: pd.MultiIndex, source: str) -> int:
    """Which level of two-level columns names the fields (Open, Close, ...): yfinance puts them first by default,
    second with group_by='ticker'."""
    known = {a for aliases in _ALIASES.values() for a in aliases}
    hits = [len({_canon(x) for x in columns.get_level_values(i)} & known) for i in (0, 1)]
    if columns.nlevels != 2 or max(hits) == 0 or hits[0] == hits[1]:
        raise DataError(f"{source}: columns with {columns.nlevels} levels; expected two (field and ticker, as "
                        f"yfinance writes them), one of them naming open/high/low/close/volume")
    return 0 if hits[0] > hits[1] else 1


def _frames_of(data, source: str, symbol: str | None, symbol_column: str | None) -> dict[str, pd.DataFrame]:
    """Per-symbol frames of a mapping, a yfinance-style two-level frame, a long frame with a symbol column
    (symbol, ticker or FinRL's tic), or one symbol's frame named by `symbol`; a DatetimeIndex becomes the time
    column."""
    def timed(df):
        if isinstance(df.index, pd.DatetimeIndex):
            return df.rename_axis("time").reset_index()
        return df

    if isinstance(data, Mapping):
        return {str(k): timed(v) for k, v in data.items()}
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{source}: expected a DataFrame or a mapping symbol -> DataFrame, got {type(data).__name__}")
    if isinstance(data.columns, pd.MultiIndex):
        level = _field_level(data.columns, source)
        tickers = list(dict.fromkeys(data.columns.get_level_values(1 - level)))
        return {str(t): timed(data.xs(t, axis=1, level=1 - level)) for t in tickers}
    data = timed(data)
    groups = _split_long(data, source, symbol_column)
    if groups:
        if symbol is not None:
            raise DataError(f"{source}: symbol={symbol!r} given, but the frame holds symbols {sorted(groups)[:5]} "
                            f"in its symbol column; drop symbol= (each keeps its own name)")
        return groups
    if symbol is None:
        raise DataError(f"{source}: no symbol column (symbol, ticker or tic) and no two-level columns: pass "
                        f"symbol='NAME' for one symbol's bars, or a mapping symbol -> frame")
    return {symbol: data}


def from_dataframe(
    data: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    symbol: str | None = None,
    symbols: Sequence[str] | None = None,
    symbol_column: str | None = None,
    time_format: str | None = None,
    time_unit: str | None = None,
    close_only: bool = False,
    adjust: bool = True,
    min_bars: int = 2,
    on_bad_rows: str = "error",
) -> MarketData:
    """Build `MarketData` from frames in memory, in the shapes data usually arrives in (errors quote 0-based rows
    of each symbol's frame):

    - a mapping symbol -> frame;
    - one long frame with a symbol column (`symbol`, `ticker`, or FinRL's `tic`; or `symbol_column`);
    - a `yf.download(...)` frame: two-level columns (field, ticker), or (ticker, field) with group_by='ticker';
    - one symbol's frame, named by `symbol`.

    The time is a column (`timestamp`, `date`, ...) or a DatetimeIndex. Other arguments as for `load_csv`.
    """
    frames = _frames_of(data, "frame", symbol, symbol_column)
    if symbols is not None:
        missing = [s for s in symbols if s not in frames]
        if missing:
            raise DataError(f"symbols {missing} not in the frame (it holds {sorted(frames)[:10]})")
        frames = {s: frames[s] for s in symbols}
    series = {sym: validate_frame(df, f"frame {sym!r}", time_format=time_format, adjust=adjust,
                                  min_bars=min_bars, on_bad_rows=on_bad_rows, close_only=close_only,
                                  time_unit=time_unit)
              for sym, df in frames.items()}
    return align(series)


def from_dataframes(frames: Mapping[str, pd.DataFrame], **kwargs) -> MarketData:
    """`from_dataframe` of a mapping symbol -> frame (kept for code written before it)."""
    if not isinstance(frames, Mapping):
        raise DataError("from_dataframes: expected a mapping symbol -> DataFrame; use from_dataframe for one frame")
    return from_dataframe(frames, **kwargs)
