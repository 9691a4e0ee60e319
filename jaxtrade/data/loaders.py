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
_SYMBOL_ALIASES = ("symbol", "ticker")
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


def _rename_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    lookup = {}
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
    missing = [f for f in _REQUIRED if f not in mapping.values()]
    if missing:
        raise DataError(
            f"{source}: missing required column(s) {missing}; found columns {list(df.columns)}"
        )
    unused = [c for c in df.columns if c not in mapping and _canon(c) not in _SYMBOL_ALIASES]
    if unused:
        logger.warning("%s: column(s) %s not used (recognised: %s and symbol/ticker)", source, unused,
                       ", ".join(a for aliases in _ALIASES.values() for a in aliases))
    return df[list(mapping)].rename(columns=mapping)


def _parse_time(values: pd.Series, where: _Where, time_format: str | None) -> np.ndarray:
    """Parse to int64 UTC seconds; tz-aware times are converted, naive ones taken as UTC."""
    if pd.api.types.is_numeric_dtype(values):
        raise DataError(
            f"{where(0, 'time')}: numeric timestamps are ambiguous; give dates/datetimes as text"
        )
    parsed = pd.to_datetime(values, format=time_format, errors="coerce", utc=True)
    if time_format is None and parsed.isna().any():
        # The format inferred from the first row did not fit every row: parse row by row.
        parsed = pd.to_datetime(values, format="mixed", errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        raise DataError(f"{where(int(bad[0]), 'time')}: cannot parse timestamp {values.iloc[bad[0]]!r}")
    ns = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[s]")
    return ns.astype(np.int64)


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def validate_frame(
    df: pd.DataFrame,
    source: str,
    *,
    lines: np.ndarray | None = None,
    time_format: str | None = None,
    adjust: bool = True,
    min_bars: int = 2,
) -> dict[str, np.ndarray]:
    """Check one symbol's bars and return clean float64 columns plus int64 UTC seconds.

    Args:
      df: one symbol's bars with time, open, high, low, close, volume columns
        (any case, common aliases), and optionally adj_close, sentiment, aux_0..2.
      source: the name used in error messages (file path, symbol).
      lines: for CSV files, the file line of each row (header = line 1), so
        errors quote editor line numbers; None reports 0-based rows.
      time_format: strftime format of the time column, None to infer.
      adjust: scale open/high/low/close by adj_close/close (and volume by its
        inverse) when an adjusted close is given.
      min_bars: fewer bars than this is an error.

    Returns:
      dict with "time" (N,) int64 seconds, "ohlcv" (N, 5) float64, and when
      present "sentiment" (N,) and "aux" (N, 3).
    """
    where = _Where(source, lines)
    df = _rename_columns(df, source).reset_index(drop=True)
    n = len(df)
    if n < min_bars:
        raise DataError(f"{source}: series too short: {n} bars, at least {min_bars} needed (a run needs the "
                        f"features' warm-up, the observation window and one step: lower features.norm_window "
                        f"or window, or give more bars)")

    numeric = {}
    for col in ("open", "high", "low", "close", "volume", *[c for c in _OPTIONAL if c in df]):
        values = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
        bad = _first(~np.isfinite(values))
        if bad is not None:
            raise DataError(f"{where(bad, col)}: value {df[col].iloc[bad]!r} is NaN, inf or not a number")
        numeric[col] = values

    for col in ("open", "high", "low", "close", "adj_close"):
        if col in numeric:
            bad = _first(numeric[col] <= 0)
            if bad is not None:
                raise DataError(f"{where(bad, col)}: price {numeric[col][bad]} is not positive")
    bad = _first(numeric["volume"] < 0)
    if bad is not None:
        raise DataError(f"{where(bad, 'volume')}: volume {numeric['volume'][bad]} is negative")
    # Everything runs in float32 on the device: refuse what it cannot hold with room for the arithmetic.
    for col, (lo_ok, hi_ok) in ((c, PRICE_RANGE) for c in ("open", "high", "low", "close", "adj_close")):
        if col in numeric:
            bad = _first((numeric[col] < lo_ok) | (numeric[col] > hi_ok))
            if bad is not None:
                raise DataError(f"{where(bad, col)}: price {numeric[col][bad]:g} is outside the range float32 "
                                f"arithmetic keeps exact enough, [{lo_ok:g}, {hi_ok:g}]: rescale the series "
                                f"(quote it in other units)")
    bad = _first(numeric["volume"] > VOLUME_MAX)
    if bad is not None:
        raise DataError(f"{where(bad, 'volume')}: volume {numeric['volume'][bad]:g} exceeds {VOLUME_MAX:g} "
                        f"(float32 overflows past 3.4e38): rescale it (e.g. in thousands)")
    o, h, lo, c = (numeric[k] for k in ("open", "high", "low", "close"))
    bad = _first(h < lo)
    if bad is not None:
        raise DataError(f"{where(bad, 'high')}: high {h[bad]} is below low {lo[bad]}")
    for name, x in (("open", o), ("close", c)):
        bad = _first((x > h) | (x < lo))
        if bad is not None:
            raise DataError(
                f"{where(bad, name)}: {name} {x[bad]} lies outside the bar's range [{lo[bad]}, {h[bad]}]"
            )

    time = _parse_time(df["time"], where, time_format)
    diffs = np.diff(time)
    bad = _first(diffs == 0)
    if bad is not None:
        raise DataError(
            f"{where(bad + 1, 'time')}: duplicate timestamp {time[bad + 1].astype('datetime64[s]')}"
            f" (same as {where(bad)})"
        )
    bad = _first(diffs < 0)
    if bad is not None:
        raise DataError(
            f"{where(bad + 1, 'time')}: timestamps not sorted: {time[bad + 1].astype('datetime64[s]')}"
            f" comes after {time[bad].astype('datetime64[s]')}"
        )

    if adjust and "adj_close" in numeric:
        factor = numeric["adj_close"] / c
        o, h, lo, c = o * factor, h * factor, lo * factor, c * factor
        numeric["volume"] = numeric["volume"] / factor

    out = {"time": time, "ohlcv": np.stack([o, h, lo, c, numeric["volume"]], axis=-1)}
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
) -> MarketData:
    if isinstance(paths, (str, os.PathLike)):
        items = [(None, Path(paths))]
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
    """
    return _load(paths, "csv", symbols=symbols, symbol_column=symbol_column,
                 time_format=time_format, adjust=adjust, min_bars=min_bars)


def load_parquet(
    paths: PathLike | Sequence[PathLike] | Mapping[str, PathLike],
    *,
    symbols: Sequence[str] | None = None,
    symbol_column: str | None = None,
    time_format: str | None = None,
    adjust: bool = True,
    min_bars: int = 2,
) -> MarketData:
    """Load OHLCV bars from parquet file(s); arguments as for `load_csv` (errors quote 0-based rows)."""
    return _load(paths, "parquet", symbols=symbols, symbol_column=symbol_column,
                 time_format=time_format, adjust=adjust, min_bars=min_bars)


def from_dataframes(
    frames: Mapping[str, pd.DataFrame],
    *,
    time_format: str | None = None,
    adjust: bool = True,
    min_bars: int = 2,
) -> MarketData:
    """Build `MarketData` from in-memory frames, one per symbol (errors quote 0-based rows).

    A frame whose time is in its index (a DatetimeIndex) is accepted too.
    """
    series = {}
    for sym, df in frames.items():
        if isinstance(df.index, pd.DatetimeIndex):
            df = df.rename_axis("time").reset_index()
        series[str(sym)] = validate_frame(df, f"frame {sym!r}", time_format=time_format,
                                          adjust=adjust, min_bars=min_bars)
    return align(series)
