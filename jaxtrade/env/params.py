"""`EnvParams` construction: market arrays, the episode-start table, settings; and start-table edits.

`make_params` runs once on the host: it moves the market arrays and features
into `EnvParams` and builds a flat table of every valid episode start, so that
`reset` (which select-reset auto-reset runs on every step) is one uniform
integer draw and two gathers, O(1) whatever the data size.

A start (s, t) is valid when the whole observation window t-W+1..t is `ready`
(a real bar past the feature warm-up), t is inside the split, and bar t+1 is
ready and inside the split, so at least one step can be taken. An episode
stops (`truncated`) at the first bar whose successor is missing or outside
the split.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.data.types import CLOSE, OPEN, MarketData
from jaxtrade.env.config import EnvConfig
from jaxtrade.env.types import EnvParams
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.features.pipeline import Features
from jaxtrade.features.rolling import ema


def episode_starts(ready: np.ndarray, window: int, first_bar: int, end_bar: int) -> tuple[np.ndarray, np.ndarray]:
    """Every valid (symbol, decision bar) episode start inside bars [first_bar, end_bar).

    Args:
      ready: (S, T) bool feature readiness.
      window: bars per observation window.
      first_bar, end_bar: the split's bar range; windows may reach back before
        first_bar (they only hold past data), decisions and fills may not leave it.

    Returns:
      (symbols, bars), both (N,) int32, in row-major order.
    """
    ready = np.asarray(ready, bool)
    T = ready.shape[1]
    bars = np.arange(T)[None, :]
    # run[s, t] = consecutive ready bars ending at t = t - (last non-ready bar <= t).
    last_gap = np.maximum.accumulate(np.where(ready, -1, bars), axis=1)
    run = bars - last_gap
    nxt = np.zeros_like(ready)
    nxt[:, :-1] = ready[:, 1:]
    ok = (run >= window) & nxt & (bars >= first_bar) & (bars + 1 < end_bar)
    s, t = np.nonzero(ok)
    return s.astype(np.int32), t.astype(np.int32)


def ewma_volatility(close: jax.Array, halflife: int) -> jax.Array:
    """(S, T) per-bar volatility at each bar from log close-to-close returns up to it (past-only).

    sigma_t = sqrt(EWMA_t(r^2)), r_t = log(close_t / close_{t-1}), with the EWMA started at the
    mean square of the first `halflife` returns so early bars are not scaled by a single move.
    A missing bar repeats the last close (r = 0) and lowers the estimate a little.
    """
    close = jnp.asarray(close, jnp.float32)
    r = jnp.diff(jnp.log(close), axis=-1, prepend=jnp.log(close[..., :1]))
    sq = r * r
    seed = sq[..., 1:halflife + 1].mean(axis=-1, keepdims=True)
    sq = sq.at[..., 0].set(seed[..., 0])
    return jnp.sqrt(ema(sq, 1.0 - 0.5 ** (1.0 / halflife)))


def make_params(
    data: MarketData,
    features: Features,
    cfg: EnvConfig = EnvConfig(),
    window: int = 24,
    bars: tuple[int, int] | None = None,
) -> EnvParams:
    """Build `EnvParams` for episodes inside the bar range `bars` = (first, end).

    Args:
      data: market data, S symbols x T bars.
      features: `compute_features(data, ...)` output.
      cfg: costs, limits, horizon and reward weights.
      window: observation window (must match the env's).
      bars: (first, end) bar indices of the split; None = all bars.

    Returns:
      `EnvParams` with every numeric field as a device array.

    Raises:
      DataError: if no episode can start in the range (too few ready bars).
    """
    S, T = data.valid.shape
    if features.technical.shape[:2] != (S, T):
        raise DataError(f"features cover {features.technical.shape[:2]} (symbols, bars) but data has {(S, T)}")
    first, end = (0, T) if bars is None else bars
    if not (0 <= first < end <= T):
        raise ConfigError(f"bars: need 0 <= first < end <= {T}, got {bars!r}")
    if not isinstance(window, int) or window < 1:
        raise ConfigError(f"window: must be an integer >= 1, got {window!r}")
    ready = np.asarray(features.ready)
    start_symbol, start_bar = episode_starts(ready, window, first, end)
    if start_symbol.size == 0:
        ready_bars = ready[:, first:end].sum(axis=1).tolist()
        raise DataError(
            f"no episode can start in bars [{first}, {end}): each start needs {window} consecutive ready bars "
            f"and one more to step into; ready bars per symbol {dict(zip(data.symbols, ready_bars, strict=True))}"
        )
    nxt = np.zeros_like(ready)
    nxt[:, :-1] = ready[:, 1:]
    nxt &= (np.arange(T) + 1 < end)[None, :]
    bars_per_year = cfg.bars_per_year or data.bars_per_year()
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return EnvParams(
        technical=f32(features.technical),
        regime=f32(features.regime),
        aux=f32(data.aux),
        open=f32(data.prices[..., OPEN]),
        close=f32(data.prices[..., CLOSE]),
        volatility=ewma_volatility(data.prices[..., CLOSE], cfg.vol_halflife),
        next_ok=jnp.asarray(nxt),
        start_symbol=jnp.asarray(start_symbol),
        start_bar=jnp.asarray(start_bar),
        start_count=jnp.asarray(start_symbol.size, jnp.int32),
        horizon=jnp.asarray(cfg.horizon, jnp.int32),
        initial_cash=f32(cfg.initial_cash),
        commission_bps=f32(cfg.commission_bps),
        slippage_bps=f32(cfg.slippage_bps),
        max_position=f32(cfg.max_position),
        stop_loss=f32(cfg.stop_loss),
        take_profit=f32(cfg.take_profit),
        max_hold=jnp.asarray(cfg.max_hold, jnp.int32),
        max_drawdown=f32(cfg.max_drawdown),
        ruin=f32(cfg.ruin),
        borrow_bps=f32(cfg.borrow_bps),
        short_margin=f32(cfg.short_margin),
        hurdle_rate=f32(cfg.hurdle_rate),
        drawdown_free=f32(cfg.drawdown_free),
        bars_per_year=f32(bars_per_year),
        reward_weights=f32(cfg.reward.as_tuple()),
    )


START_FIELDS = ("start_symbol", "start_bar", "start_count")


def params_axes(params: EnvParams, batched: tuple[str, ...] | list[str]) -> EnvParams:
    """The `vmap` in_axes tree for params whose `batched` fields carry a leading axis (0) and the rest none."""
    names = [f.name for f in dataclasses.fields(params)]
    unknown = set(batched) - set(names)
    if unknown:
        raise ConfigError(f"unknown EnvParams fields {sorted(unknown)}")
    return params.replace(**{n: (0 if n in batched else None) for n in names})


def select_starts(params: EnvParams, keep: np.ndarray, length: int | None = None) -> EnvParams:
    """Params whose episodes start only at the starts where `keep` is true (host-side).

    The kept starts come first and the table is padded to `length` entries (by
    repeating them; `start_count` excludes the padding, so draws stay uniform over
    the kept starts). Equal-length tables let params for different symbols or
    periods stack into one batch for `vmap`.

    Args:
      params: from `make_params`.
      keep: (num_starts,) bool over the starts in use.
      length: table length (None: the number kept).

    Raises:
      DataError: nothing kept. ConfigError: `length` below the number kept.
    """
    n = params.num_starts
    keep = np.asarray(keep, bool)
    if keep.shape != (n,):
        raise ConfigError(f"keep: need a ({n},) mask over the episode starts, got shape {keep.shape}")
    idx = np.nonzero(keep)[0]
    if idx.size == 0:
        raise DataError("no episode start selected")
    length = idx.size if length is None else length
    if length < idx.size:
        raise ConfigError(f"length: {length} is below the {idx.size} selected starts")
    table = idx[np.arange(length) % idx.size]
    return params.replace(start_symbol=params.start_symbol[table], start_bar=params.start_bar[table],
                          start_count=jnp.asarray(idx.size, jnp.int32))


def symbol_params(params: EnvParams, symbols: list[int] | range) -> EnvParams:
    """One params per symbol, stacked (leading axis S'): each symbol's episodes start only on that symbol.

    Returns:
      `EnvParams` whose `START_FIELDS` have a leading symbol axis; every other
      field is shared. Vmap with `in_axes=params_axes(params, START_FIELDS)`.
    """
    sym = np.asarray(params.start_symbol)[: params.num_starts]
    counts = [int(np.sum(sym == s)) for s in symbols]
    for s, c in zip(symbols, counts, strict=True):
        if c == 0:
            raise DataError(f"symbol {s} has no episode start in these params")
    each = [select_starts(params, sym == s, max(counts)) for s in symbols]
    stack = lambda *x: jnp.stack(x)  # noqa: E731
    return params.replace(start_symbol=stack(*(p.start_symbol for p in each)),
                          start_bar=stack(*(p.start_bar for p in each)),
                          start_count=stack(*(p.start_count for p in each)))

