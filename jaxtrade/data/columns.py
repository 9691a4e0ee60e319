"""One symbol's frame as the loaders read it: its columns under their canonical names (common spellings, a
close-only series), its timestamps parsed (text dates or epoch numbers), and where a row sits in its file for
error messages."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from jaxtrade.data.types import DataError

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


_NAT = np.iinfo(np.int64).min  # a timestamp that did not parse


def _plain(value) -> str:
    """A cell as plain text for messages: numbers as Python prints them (3, 1.5, nan, 1e+39), text quoted."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(float(value))
    return repr(str(value)) if value is not None else "empty"


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


__all__ = ["TIME_UNITS", "PRICE_RANGE", "VOLUME_MAX"]
