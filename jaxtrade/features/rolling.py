"""Past-only rolling primitives along the last (time) axis, vectorised over leading axes.

Every output at bar t depends on inputs at bars <= t only. Windows that reach
before the first bar see that first value repeated (edge padding), so outputs
exist, finite, for every bar; callers mask the warm-up with `ready`.
Sums use `lax.reduce_window` (no long running cumsum, so float32 stays exact
over 50,000+ bars), variances are two-pass, and EMAs are a linear recurrence,
scanned in parallel on accelerators and sequentially on CPUs.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax


def _edge_pad(x: jax.Array, n: int) -> jax.Array:
    """Prepend n copies of x[..., 0] along the last axis."""
    if n == 0:
        return x
    return jnp.concatenate([jnp.repeat(x[..., :1], n, axis=-1), x], axis=-1)


def lag(x: jax.Array, k: int) -> jax.Array:
    """x[..., t - k], edge-padded: (..., T) -> (..., T)."""
    if k == 0:
        return x
    return _edge_pad(x, k)[..., : x.shape[-1]]


def _reduce(x: jax.Array, window: int, init, op) -> jax.Array:
    padded = _edge_pad(x, window - 1)
    dims = (1,) * (x.ndim - 1) + (window,)
    return lax.reduce_window(padded, jnp.asarray(init, x.dtype), op, dims, (1,) * x.ndim, "VALID")


def rolling_sum(x: jax.Array, window: int) -> jax.Array:
    """Sum of x over bars (t - window, t]: (..., T) -> (..., T)."""
    return _reduce(x, window, 0, lax.add)


def rolling_mean(x: jax.Array, window: int) -> jax.Array:
    """Mean over the last `window` bars, bar t included."""
    return rolling_sum(x, window) / window


def rolling_max(x: jax.Array, window: int) -> jax.Array:
    """Max over the last `window` bars, bar t included."""
    return _reduce(x, window, -jnp.inf, lax.max)


def rolling_min(x: jax.Array, window: int) -> jax.Array:
    """Min over the last `window` bars, bar t included."""
    return _reduce(x, window, jnp.inf, lax.min)


def rolling_std(x: jax.Array, window: int, ddof: int = 0) -> jax.Array:
    """Standard deviation over the last `window` bars (two-pass, exact in float32)."""
    mean = rolling_mean(x, window)
    padded = _edge_pad(x, window - 1)
    T = x.shape[-1]

    def add_lag(k, acc):
        xs = lax.dynamic_slice_in_dim(padded, k, T, axis=-1)
        return acc + (xs - mean) ** 2

    ss = lax.fori_loop(0, window, add_lag, jnp.zeros_like(x))
    return jnp.sqrt(ss / (window - ddof))


def rolling_windows(x: jax.Array, window: int) -> jax.Array:
    """Stack the last `window` values of each bar: (..., T) -> (..., T, window), oldest first."""
    padded = _edge_pad(x, window - 1)
    idx = jnp.arange(x.shape[-1])[:, None] + jnp.arange(window)[None, :]
    return padded[..., idx]


def _default_chunk(num_series: int, window: int, num_bars: int) -> int:
    """Chunk length giving each scan step about 2^19 elements on a CPU (cache-sized), 2^22 elsewhere."""
    budget = 2**19 if jax.default_backend() == "cpu" else 2**22
    chunks = max(1, budget // max(1, num_series * window))
    return -(-num_bars // chunks)


def rolling_quantiles(
    x: jax.Array, window: int, qs: tuple[float, ...], chunk: int | None = None
) -> jax.Array:
    """Exact rolling quantiles over the last `window` bars: (..., T) -> (len(qs), ..., T).

    Interpolates linearly like `numpy.quantile`. Instead of sorting every window
    (O(T W log W)), it keeps each
    series' window sorted while sliding: delete the value that leaves, insert the
    one that arrives, O(W) vector work a bar. The time axis is cut into chunks of
    `chunk` bars (default: sized to the backend) that slide in parallel, each
    starting from one sorted window.
    """
    lead, T = x.shape[:-1], x.shape[-1]
    flat = x.reshape(-1, T)  # (N, T)
    N = flat.shape[0]
    L = max(1, min(chunk or _default_chunk(N, window, T), T))
    C = -(-T // L)
    padded = _edge_pad(flat, window - 1)  # bar t's window is padded[:, t : t + window]
    padded = jnp.concatenate([padded, jnp.repeat(padded[:, -1:], C * L - T, axis=1)], axis=1)
    starts = jnp.arange(C) * L
    first = jax.vmap(lambda s: lax.dynamic_slice_in_dim(padded, s, window, axis=1))(starts)  # (C, N, W)
    # Per chunk and step: the value leaving (padded[t - 1]) and arriving (padded[t + W - 1]).
    leave = jax.vmap(lambda s: lax.dynamic_slice_in_dim(padded, s, L, axis=1)[:, :-1])(starts)
    enter = jax.vmap(lambda s: lax.dynamic_slice_in_dim(padded, s + window, L - 1, axis=1))(starts)
    pos = jnp.asarray(qs, x.dtype) * (window - 1)
    lo_i = jnp.floor(pos).astype(jnp.int32)
    hi_i = jnp.minimum(lo_i + 1, window - 1)
    frac = pos - lo_i
    iota = jnp.arange(window)

    def read(sorted_w):  # (..., W) -> (Q, ...)
        lo, hi = sorted_w[..., lo_i], sorted_w[..., hi_i]
        return jnp.moveaxis(lo + (hi - lo) * frac, -1, 0)

    def slide(sorted_w, io):  # sorted_w (C, N, W); old/new (C, N)
        old, new = io
        d = jnp.sum(sorted_w < old[..., None], axis=-1, keepdims=True)  # index of one `old`
        i = jnp.sum(sorted_w < new[..., None], axis=-1, keepdims=True) - (old < new)[..., None]
        # Output slot j takes the new value at i; before i, element j of the window with
        # `old` removed (sorted_w[j], or sorted_w[j + 1] from d on); after i, its element
        # j - 1 (sorted_w[j - 1] up to d, else sorted_w[j]). Shifts only, no gathers.
        nxt = jnp.concatenate([sorted_w[..., 1:], sorted_w[..., -1:]], axis=-1)
        prv = jnp.concatenate([sorted_w[..., :1], sorted_w[..., :-1]], axis=-1)
        before = jnp.where(iota < d, sorted_w, nxt)
        after = jnp.where(iota <= d, prv, sorted_w)
        out = jnp.where(iota < i, before, jnp.where(iota == i, new[..., None], after))
        return out, read(out)

    init = jnp.sort(first, axis=-1)
    _, rest = lax.scan(slide, init, (jnp.moveaxis(leave, -1, 0), jnp.moveaxis(enter, -1, 0)))
    # rest: (L - 1, Q, C, N); chunk starts: (Q, C, N)
    out = jnp.concatenate([read(init)[None], rest], axis=0)  # (L, Q, C, N)
    out = jnp.transpose(out, (1, 3, 2, 0)).reshape(len(qs), N, C * L)[..., :T]
    return out.reshape((len(qs), *lead, T))


def linear_recurrence(a: jax.Array, b: jax.Array, parallel: bool | None = None) -> jax.Array:
    """y_t = a_t y_{t-1} + b_t along the last axis, with y_{-1} = 0.

    `parallel=True` uses `lax.associative_scan` (O(log T) depth: the fast choice on
    GPUs and TPUs); False a sequential `lax.scan`, which compiles and runs faster on
    a CPU (figures in benchmarks/README.md). None picks by the default backend.
    """
    if parallel is None:
        parallel = jax.default_backend() != "cpu"
    if parallel:

        def combine(left, right):
            a_l, b_l = left
            a_r, b_r = right
            return a_l * a_r, a_r * b_l + b_r

        return lax.associative_scan(combine, (a, b), axis=a.ndim - 1)[1]

    def step(y, ab):
        y = ab[0] * y + ab[1]
        return y, y

    at, bt = jnp.moveaxis(a, -1, 0), jnp.moveaxis(b, -1, 0)
    _, ys = lax.scan(step, jnp.zeros_like(bt[0]), (at, bt))
    return jnp.moveaxis(ys, 0, -1)


def ema(x: jax.Array, alpha: float) -> jax.Array:
    """Exponential moving average y_t = (1 - alpha) y_{t-1} + alpha x_t with y_0 = x_0.

    Matches pandas' `ewm(alpha=alpha, adjust=False)`; `span=n` is alpha = 2 / (n + 1)
    and Wilder's smoothing over n bars is alpha = 1 / n.
    """
    a = jnp.full_like(x, 1.0 - alpha).at[..., 0].set(0.0)
    b = (alpha * x).at[..., 0].set(x[..., 0])
    return linear_recurrence(a, b)


def ema_deviation(x: jax.Array, alpha: float) -> jax.Array:
    """EMA(x) - x, computed from the bar-to-bar changes of x.

    With e_t = EMA_t - x_t: e_t = (1 - alpha) (e_{t-1} - (x_t - x_{t-1})), e_0 = 0.
    The recurrence only ever sees small numbers, so differences of EMAs of a
    price near 1.1 (EURUSD) keep float32's full relative precision, where
    subtracting two EMAs of the price would cancel most of it.
    """
    diff = x - lag(x, 1)
    a = jnp.full_like(x, 1.0 - alpha)
    return linear_recurrence(a, -(1.0 - alpha) * diff)


