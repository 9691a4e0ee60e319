"""`EnvParams` construction: market arrays, the episode-start table, settings; and start-table edits.

`make_params` runs once on the host: it moves the market arrays and features
into `EnvParams` and builds a flat table of every valid episode start, so that
`reset` (which select-reset auto-reset runs on every step) is one uniform
integer draw and two gathers, O(1) whatever the data size.

A symbol trades at bar t (`tradeable`) when bars t and t+1 are real (`ready`:
past the feature warm-up), its observation window t-W+1..t starts at or after
its first ready bar, and t, t+1 lie inside the split; every such bar is an
episode start. A missing bar (a holiday the others trade, a suspension, a day
absent from the file) does not end an episode: the position is carried at the
last close (the market arrays repeat it on missing bars), no order fills there,
and the symbol trades again at its next real bar. An episode stops
(`truncated`) only where the symbol has no real bar left in the split (`next_ok`
false: the split ends, or the symbol's data ends for good).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.data.types import CLOSE, OPEN, MarketData
from jaxtrade.env.config import EnvConfig, rules_from_config
from jaxtrade.env.types import EnvParams, Market, PortfolioParams, Starts
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.features.pipeline import Features
from jaxtrade.features.rolling import ema


def trading_bars(ready: np.ndarray, window: int, first_bar: int, end_bar: int) -> tuple[np.ndarray, np.ndarray]:
    """(tradeable, next_ok), both (S, T) bool, for decisions inside bars [first_bar, end_bar).

    tradeable[s, t]: s can trade at t: bars t and t+1 are ready, the window t-W+1..t starts at or after s's
    first ready bar (gaps inside it carry the last close), and first_bar <= t, t + 1 < end_bar.
    next_ok[s, t]: an episode of s at t may step on: t is at or after s's first ready bar and s has a ready
    bar in (t, end_bar). False from s's last ready bar of the split on (the split or s's data ends).

    Args:
      ready: (S, T) bool feature readiness (a real bar past the warm-up).
      window: bars per observation window.
      first_bar, end_bar: the split's bar range; windows may reach back before
        first_bar (they only hold past data), decisions and fills may not leave it.
    """
    ready = np.asarray(ready, bool)
    T = ready.shape[1]
    bars = np.arange(T)[None, :]
    listed = ready.any(axis=1)
    first_ready = np.where(listed, np.argmax(ready, axis=1), T)[:, None]
    inside = ready & (bars < end_bar)
    last_ready = np.where(inside.any(axis=1), T - 1 - np.argmax(inside[:, ::-1], axis=1), -1)[:, None]
    nxt = np.zeros_like(ready)
    nxt[:, :-1] = ready[:, 1:]
    tradeable = ready & nxt & (bars - window + 1 >= first_ready) & (bars >= first_bar) & (bars + 1 < end_bar)
    next_ok = (bars >= first_ready) & (bars < last_ready)
    return tradeable, next_ok


def tradeable(ready: np.ndarray, window: int, first_bar: int, end_bar: int) -> np.ndarray:
    """(S, T) bool: symbol s can trade at bar t inside bars [first_bar, end_bar) (`trading_bars`)."""
    return trading_bars(ready, window, first_bar, end_bar)[0]


def episode_starts(ready: np.ndarray, window: int, first_bar: int, end_bar: int) -> tuple[np.ndarray, np.ndarray]:
    """Every valid (symbol, decision bar) episode start (`tradeable`), as (symbols, bars), both (N,) int32, in
    row-major order."""
    s, t = np.nonzero(tradeable(ready, window, first_bar, end_bar))
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
      window: bars per observation window (stored in the params; the env reads it there).
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
    ok, nxt = trading_bars(ready, window, first, end)
    start_symbol, start_bar = (x.astype(np.int32) for x in np.nonzero(ok))
    if start_symbol.size == 0:
        ready_bars = ready[:, first:end].sum(axis=1).tolist()
        raise DataError(
            f"no episode can start in bars [{first}, {end}): a start needs {window} bars from the symbol's first "
            f"ready bar to fill its window, and a ready bar after it; ready bars per symbol "
            f"{dict(zip(data.symbols, ready_bars, strict=True))}"
        )
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    market = Market(
        technical=f32(features.technical),
        regime=f32(features.regime),
        aux=f32(data.aux),
        open=f32(data.prices[..., OPEN]),
        close=f32(data.prices[..., CLOSE]),
        volatility=ewma_volatility(data.prices[..., CLOSE], cfg.vol_halflife),
        tradeable=jnp.asarray(ok),
        next_ok=jnp.asarray(nxt),
    )
    starts = Starts(symbol=jnp.asarray(start_symbol), bar=jnp.asarray(start_bar),
                    count=jnp.asarray(start_symbol.size, jnp.int32))
    rules = rules_from_config(cfg, cfg.bars_per_year or data.bars_per_year())
    return EnvParams(market=market, starts=starts, rules=rules, reward_weights=f32(cfg.reward.as_tuple()),  # type: ignore[attr-defined]
                     window=window, actions=cfg.actions)


def params_axes(params: EnvParams, market=None, starts=None, rules=None, reward_weights=None) -> EnvParams:
    """The `vmap` in_axes tree for `params`: each group's axis (0 for a leading batch axis, None shared).

    E.g. `params_axes(params, starts=0)` for per-symbol start tables (`symbol_params`),
    `params_axes(params, rules=0, reward_weights=0)` for a sweep over costs, limits and weights.
    """
    axis = lambda tree, a: jax.tree.map(lambda _: a, tree)  # noqa: E731
    return EnvParams(market=axis(params.market, market), starts=axis(params.starts, starts),
                     rules=axis(params.rules, rules), reward_weights=reward_weights, window=params.window,
                     actions=params.actions, on_stop=params.on_stop)


def range_params(params: EnvParams, ready: np.ndarray, bars: tuple[int, int], length: int | None = None
                 ) -> EnvParams:
    """`params` made over every bar, restricted to episodes inside `bars` = (first, end) (host-side): the
    `tradeable` and `next_ok` tables and the start table are those `make_params(..., bars=bars)` would build
    (`trading_bars`), the start table padded to `length` entries by repetition (`Starts.count` excludes them).
    Every other array is shared, so params of many ranges stack by their tables alone (walk-forward folds:
    vmap with `range_axes`).

    Raises:
      DataError: no episode can start in the range. ConfigError: `length` below the number of starts.
    """
    ok, nxt = trading_bars(ready, params.window, *bars)
    sym, bar = (x.astype(np.int32) for x in np.nonzero(ok))
    if sym.size == 0:
        raise DataError(f"no episode can start in bars [{bars[0]}, {bars[1]}): no symbol has a full window and a "
                        f"next bar there")
    length = sym.size if length is None else length
    if length < sym.size:
        raise ConfigError(f"length: {length} is below the {sym.size} starts in bars {bars}")
    table = np.arange(length) % sym.size
    return params.replace(market=params.market.replace(tradeable=jnp.asarray(ok), next_ok=jnp.asarray(nxt)),
                          starts=Starts(symbol=jnp.asarray(sym[table]), bar=jnp.asarray(bar[table]),
                                        count=jnp.asarray(sym.size, jnp.int32)))


def range_axes(params: EnvParams) -> EnvParams:
    """The vmap in_axes of `range_params` outputs stacked on a leading axis: the tables and starts batched,
    every other array shared."""
    market = jax.tree.map(lambda _: None, params.market).replace(tradeable=0, next_ok=0)
    return params_axes(params, starts=0).replace(market=market)


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
    return params.replace(starts=Starts(symbol=params.starts.symbol[table], bar=params.starts.bar[table],
                                        count=jnp.asarray(idx.size, jnp.int32)))


RECENT_OVERSAMPLE = 4  # `recent_starts`' table: this many entries per start, so weights resolve to 1 / (4 N)


def recent_starts(params: EnvParams, halflife_bars: float, end: int | None = None) -> EnvParams:
    """`params` whose episodes start more often near `end` (host-side): start i drawn with weight
    2 ** (-(end - its bar) / `halflife_bars`), by a table of `RECENT_OVERSAMPLE` x N entries in which each start
    fills its weight's share (systematic resampling: the table's j-th entry is the start whose cumulative weight
    covers (j + 0.5) / length), so the env's uniform draw over the table is the weighted draw, to 1 / length.
    `end`: the range's end (default: one past the last start's bar). 0 half-life: `params` unchanged.

    Raises:
      ConfigError: a negative or non-finite half-life."""
    if not (halflife_bars >= 0 and np.isfinite(halflife_bars)):
        raise ConfigError(f"start half-life: need >= 0 bars (0 = uniform), got {halflife_bars!r}")
    if halflife_bars == 0:
        return params
    n = params.num_starts
    sym, bar = np.asarray(params.starts.symbol)[:n], np.asarray(params.starts.bar)[:n]
    end = int(bar.max()) + 1 if end is None else end
    weight = np.exp2(-(end - bar.astype(np.float64)) / halflife_bars)
    cum = np.cumsum(weight) / weight.sum()
    length = RECENT_OVERSAMPLE * n
    table = np.minimum(np.searchsorted(cum, (np.arange(length) + 0.5) / length), n - 1)
    return params.replace(starts=Starts(symbol=jnp.asarray(sym[table]), bar=jnp.asarray(bar[table]),
                                        count=jnp.asarray(length, jnp.int32)))


def symbol_params(params: EnvParams, symbols: list[int] | range) -> EnvParams:
    """One params per symbol, stacked (leading axis S'): each symbol's episodes start only on that symbol.

    Returns:
      `EnvParams` whose `starts` have a leading symbol axis; every other
      field is shared. Vmap with `in_axes=params_axes(params, starts=0)`.
    """
    sym = np.asarray(params.starts.symbol)[: params.num_starts]
    counts = [int(np.sum(sym == s)) for s in symbols]
    for s, c in zip(symbols, counts, strict=True):
        if c == 0:
            raise DataError(f"symbol {s} has no episode start in these params")
    each = [select_starts(params, sym == s, max(counts)).starts for s in symbols]
    return params.replace(starts=jax.tree.map(lambda *x: jnp.stack(x), *each))


def make_portfolio_params(data: MarketData, features: Features, cfg: EnvConfig = EnvConfig(), window: int = 24,
                          bars: tuple[int, int] | None = None, total_limit: float = 1.0) -> PortfolioParams:
    """`PortfolioParams` for portfolio episodes inside the bar range `bars` (None: all bars).

    An episode may start at any bar where at least one symbol can trade.

    Raises:
      ConfigError: total_limit outside (0, 1].
      DataError: no bar in the range where a symbol can trade.
    """
    if not (0.0 < total_limit <= 1.0):
        raise ConfigError(f"portfolio.total_limit: must be in (0, 1] (gross exposure / equity), got {total_limit!r}")
    env = make_params(data, features, cfg, window, bars)
    T = data.valid.shape[1]
    first, end = (0, T) if bars is None else bars
    ok = np.asarray(env.market.tradeable)
    start_bars = np.flatnonzero(ok.any(axis=0)).astype(np.int32)
    if start_bars.size == 0:
        raise DataError(f"no bar in [{first}, {end}) where any symbol can trade")
    return PortfolioParams(env=env, tradeable=jnp.asarray(ok), start_bars=jnp.asarray(start_bars),
                           start_count=jnp.asarray(start_bars.size, jnp.int32), end=jnp.asarray(end, jnp.int32),
                           total_limit=jnp.asarray(total_limit, jnp.float32))
