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

from jaxtrade.data.columns import _ALIASES, _SYMBOL_ALIASES, _canon
from jaxtrade.data.types import NUM_AUX, SECONDS_PER_DAY, DataError, MarketData
from jaxtrade.data.validation import _first, validate_frame

PathLike = str | os.PathLike
logger = logging.getLogger(__name__)


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
