"""The `MarketData` pytree: many symbols' OHLCV bars on one common time axis."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxtrade.errors import DataError

OPEN, HIGH, LOW, CLOSE, VOLUME = range(5)
PRICE_FIELDS = ("open", "high", "low", "close", "volume")
NUM_AUX = 3
SECONDS_PER_DAY = 86_400


class MarketData(struct.PyTreeNode):
    """OHLCV bars for S symbols aligned on T common timestamps.

    Bars a symbol does not have (before its listing, after its delisting, or
    gaps) are marked `valid == False`. Their prices repeat the last real close
    (or the first real open before the first bar) with zero volume so that
    arithmetic on them stays finite; they are storage, never observations.

    Timestamps are UTC and split into two int32 arrays (whole days since
    1970-01-01 and seconds within the day) so they survive JAX's default 32-bit
    mode exactly; `timestamps()` rebuilds them as numpy datetime64.
    """

    prices: jax.Array  # (S, T, 5) float32: open, high, low, close, volume
    valid: jax.Array  # (S, T) bool: the symbol has a real bar here
    day: jax.Array  # (T,) int32: days since 1970-01-01 (UTC)
    second: jax.Array  # (T,) int32: seconds since midnight (UTC), in [0, 86400)
    sentiment: jax.Array  # (S, T) float32: external sentiment score, 0 = neutral
    aux: jax.Array  # (S, T, 3) float32: external model probabilities, 1/3 each = neutral
    symbols: tuple[str, ...] = struct.field(pytree_node=False)
    notes: tuple[str, ...] = struct.field(pytree_node=False, default=())  # what loading changed (rows made gaps)

    @property
    def num_symbols(self) -> int:
        return self.prices.shape[0]

    @property
    def num_bars(self) -> int:
        return self.prices.shape[1]

    def epoch_seconds(self) -> np.ndarray:
        """(T,) int64 UTC seconds since 1970-01-01, rebuilt on the host."""
        return np.asarray(self.day, np.int64) * SECONDS_PER_DAY + np.asarray(self.second, np.int64)

    def timestamps(self) -> np.ndarray:
        """(T,) numpy datetime64[s] timestamps, rebuilt on the host."""
        return self.epoch_seconds().astype("datetime64[s]")

    def bar_seconds(self) -> int:
        """Median spacing between consecutive bars, in seconds."""
        seconds = self.epoch_seconds()
        if seconds.size < 2:
            raise DataError("bar_seconds needs at least two bars")
        return int(np.median(np.diff(seconds)))

    def bars_per_year(self) -> float:
        """Bars per year, inferred from each symbol's own bars: about 252 for daily stocks, 6,200 for hourly FX.

        Per symbol: the median count of its bars over the calendar years it covers
        whole (strictly between its first and last year), or, with no whole year,
        its bars per year of its own span (when that covers at least 30 days). The
        result is the median over symbols, so gaps, late listings and symbols that
        never overlap do not thin it out. With under 30 days of any symbol: 252
        trading days a year at the data's bar spacing.
        """
        seconds = self.epoch_seconds()
        years = seconds.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)
        valid = np.asarray(self.valid)
        rates = []
        for row in valid:
            t, y = seconds[row], years[row]
            if t.size < 2:
                continue
            whole = np.arange(y[0] + 1, y[-1])
            if whole.size:
                rates.append(float(np.median([np.sum(y == year) for year in whole])))
            elif t[-1] - t[0] >= 30 * SECONDS_PER_DAY:
                rates.append((t.size - 1) / ((t[-1] - t[0]) / (365.25 * SECONDS_PER_DAY)))
        if rates:
            return float(np.median(rates))
        return 252.0 * SECONDS_PER_DAY / self.bar_seconds()

    def select(self, symbols: tuple[str, ...] | list[str]) -> MarketData:
        """A copy holding only `symbols`, in the given order."""
        missing = [s for s in symbols if s not in self.symbols]
        if missing:
            raise DataError(f"unknown symbols {missing}; available: {list(self.symbols)}")
        idx = np.array([self.symbols.index(s) for s in symbols])
        return MarketData(
            prices=self.prices[idx],
            valid=self.valid[idx],
            day=self.day,
            second=self.second,
            sentiment=self.sentiment[idx],
            aux=self.aux[idx],
            symbols=tuple(symbols),
            notes=self.notes,
        )

    def join(self, other: MarketData) -> MarketData:
        """The symbols of both on this calendar (`other` must share it), `other`'s after this one's."""
        if not (np.array_equal(np.asarray(self.day), np.asarray(other.day))
                and np.array_equal(np.asarray(self.second), np.asarray(other.second))):
            raise DataError("join: the two MarketData have different timestamps; align them on one calendar first")
        clash = sorted(set(self.symbols) & set(other.symbols))
        if clash:
            raise DataError(f"join: symbols {clash} are in both; rename one side's")
        cat = lambda a, b: jnp.concatenate([jnp.asarray(a), jnp.asarray(b)])  # noqa: E731
        return MarketData(prices=cat(self.prices, other.prices), valid=cat(self.valid, other.valid), day=self.day,
                          second=self.second, sentiment=cat(self.sentiment, other.sentiment),
                          aux=cat(self.aux, other.aux), symbols=self.symbols + other.symbols,
                          notes=self.notes + other.notes)

    def summary(self) -> list[dict]:
        """One row per symbol: bars, first/last valid timestamp, last close."""
        ts = self.timestamps()
        valid = np.asarray(self.valid)
        close = np.asarray(self.prices[..., CLOSE])
        rows = []
        for i, sym in enumerate(self.symbols):
            idx = np.flatnonzero(valid[i])
            rows.append(
                {
                    "symbol": sym,
                    "bars": int(idx.size),
                    "missing": int(valid.shape[1] - idx.size),
                    "first": str(ts[idx[0]]) if idx.size else "-",
                    "last": str(ts[idx[-1]]) if idx.size else "-",
                    "last_close": float(close[i, idx[-1]]) if idx.size else float("nan"),
                }
            )
        return rows
