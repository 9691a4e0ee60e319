"""On-device synthetic markets: regime-switching geometric Brownian motion with jumps.

Per symbol, a hidden regime r_t follows a Markov chain with transition matrix P
(rows: from, columns: to; r_0 drawn from P's stationary distribution). The
close-to-close log return of bar t is

    x_t = (mu[r_t] - sigma[r_t]^2 / 2) dt + sigma[r_t] sqrt(dt) z_t + N_t J_t,

with dt = 1 / bars_per_year, N_t ~ Bernoulli(jump_intensity dt) and J_t ~
N(jump_mean, jump_std^2). The shocks z_t ~ N(0, 1) share factors: symbol s of
sector g(s) = s mod num_sectors draws

    z_st = sqrt(rho_m) m_t + sqrt(rho_g) f_g(s)t + sqrt(1 - rho_m - rho_g) e_st,

m, f, e independent N(0, 1), so shocks correlate by rho_m (market_correlation)
across sectors and rho_m + rho_g (+ sector_correlation) within one (0, 0: independent). The open sits an
overnight gap away from the previous close, high/low extend past max/min(open, close) by a half-normal
excursion, and log volume rises with |z_t| and with the regime's volatility.
Everything but the timestamps (int64 arithmetic, on the host) runs under jit.

Crashes (`crash_rate` > 0) add one regime after the configured ones: from every regime a crash starts
with probability crash_rate dt a bar; it lasts crash_bars bars on average (geometric), its volatility is
crash_volatility, and its drift is set so that the expected log return over a crash of mean length is
log(1 - crash_depth); it ends into the configured regimes in proportion to their stationary
distribution. With `shared_regime` one chain drives every symbol (a market-wide bull, bear or crash,
as in real markets where crashes hit most stocks together); otherwise each symbol has its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxtrade.data.types import NUM_AUX, SECONDS_PER_DAY, MarketData
from jaxtrade.errors import ConfigError


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic market (all static: they fix shapes or are cheap to retrace)."""

    num_symbols: int = 4  # S: symbols
    num_sectors: int = 1  # symbols s and s + num_sectors share a sector factor
    market_correlation: float = 0.0  # rho_m: correlation of shocks through the common market factor
    sector_correlation: float = 0.0  # rho_g: added correlation of shocks within a sector
    num_bars: int = 10_000  # T: bars per symbol
    bars_per_year: float = 252.0  # sets dt = 1 / bars_per_year
    bar_seconds: int = 86_400  # spacing of the timestamps; 86400 = one bar per business day
    start: str = "2000-01-03"  # first timestamp (UTC)
    drift: tuple[float, ...] = (0.30, 0.0, -0.30)  # annualised mu per regime: bull, flat, bear
    volatility: tuple[float, ...] = (0.15, 0.10, 0.35)  # annualised sigma per regime
    transition: tuple[tuple[float, ...], ...] = (  # per-bar regime transition matrix P[from, to]
        (0.990, 0.007, 0.003),
        (0.010, 0.980, 0.010),
        (0.005, 0.015, 0.980),
    )
    jump_intensity: float = 4.0  # expected jumps per year
    jump_mean: float = 0.0  # mean log jump size
    jump_std: float = 0.05  # std of the log jump size
    gap_std: float = 0.2  # overnight gap std, as a fraction of sigma sqrt(dt)
    range_scale: float = 0.5  # high/low excursion scale, as a fraction of sigma sqrt(dt)
    initial_price: float = 100.0  # first close of every symbol
    volume_base: float = 1.0e6  # median volume in a calm bar
    volume_beta: float = 0.5  # log-volume sensitivity to |z_t| and regime volatility
    volume_noise: float = 0.3  # std of log-volume noise
    shared_regime: bool = False  # one regime chain for every symbol (market-wide regimes) instead of one each
    crash_rate: float = 0.0  # expected crash starts per year from any regime; 0 = no crash regime
    crash_depth: float = 0.30  # expected fall over a crash of mean length (0.30: -30 %)
    crash_bars: float = 20.0  # mean length of a crash in bars (geometric)
    crash_volatility: float = 0.60  # annualised sigma during a crash

    def __post_init__(self):
        k = len(self.drift)
        checks = [
            (self.num_symbols >= 1, "num_symbols must be >= 1"),
            (self.num_bars >= 2, "num_bars must be >= 2"),
            (1 <= self.num_sectors <= self.num_symbols, "num_sectors must be in [1, num_symbols]"),
            (self.market_correlation >= 0 and self.sector_correlation >= 0
             and self.market_correlation + self.sector_correlation <= 1,
             "market_correlation and sector_correlation must be >= 0 with a sum <= 1"),
            (self.bars_per_year > 0, "bars_per_year must be > 0"),
            (self.bar_seconds > 0, "bar_seconds must be > 0"),
            (k >= 1, "drift needs at least one regime"),
            (len(self.volatility) == k, f"volatility needs {k} entries, one per regime"),
            (all(v > 0 for v in self.volatility), "volatility entries must be > 0"),
            (len(self.transition) == k and all(len(r) == k for r in self.transition),
             f"transition must be a {k}x{k} matrix"),
            (all(p >= 0 for r in self.transition for p in r), "transition entries must be >= 0"),
            (all(abs(sum(r) - 1.0) < 1e-6 for r in self.transition), "transition rows must sum to 1"),
            (self.jump_intensity >= 0, "jump_intensity must be >= 0"),
            (self.jump_intensity / self.bars_per_year <= 1, "jump_intensity exceeds one jump a bar"),
            (self.jump_std >= 0, "jump_std must be >= 0"),
            (self.gap_std >= 0, "gap_std must be >= 0"),
            (self.range_scale >= 0, "range_scale must be >= 0"),
            (self.initial_price > 0, "initial_price must be > 0"),
            (self.volume_base > 0, "volume_base must be > 0"),
            (self.volume_noise >= 0, "volume_noise must be >= 0"),
            (self.crash_rate >= 0, "crash_rate must be >= 0"),
            (self.crash_rate / self.bars_per_year < 1, "crash_rate exceeds one crash start a bar"),
            (0 < self.crash_depth < 1, "crash_depth must be in (0, 1)"),
            (self.crash_bars >= 1, "crash_bars must be >= 1"),
            (self.crash_volatility > 0, "crash_volatility must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"SyntheticConfig: {message}")
        try:
            np.datetime64(self.start, "s")
        except ValueError as exc:
            raise ConfigError(f"SyntheticConfig: start {self.start!r} is not a date") from exc

    @property
    def num_regimes(self) -> int:
        """K: the configured regimes, plus the crash regime (the last) when crash_rate > 0."""
        return len(self.drift) + (self.crash_rate > 0)

    @property
    def crash_regime(self) -> int | None:
        """The crash regime's index (the last), or None without crashes."""
        return len(self.drift) if self.crash_rate > 0 else None

    def regime_drift(self) -> np.ndarray:
        """(K,) annualised drift per regime, the crash's included."""
        if self.crash_rate == 0:
            return np.asarray(self.drift, np.float64)
        dt = 1.0 / self.bars_per_year
        crash = np.log1p(-self.crash_depth) / (self.crash_bars * dt) + 0.5 * self.crash_volatility**2
        return np.append(np.asarray(self.drift, np.float64), crash)

    def regime_volatility(self) -> np.ndarray:
        """(K,) annualised volatility per regime, the crash's included."""
        extra = [self.crash_volatility] if self.crash_rate > 0 else []
        return np.asarray([*self.volatility, *extra], np.float64)

    def regime_transition(self) -> np.ndarray:
        """(K, K) per-bar transition matrix, the crash regime's row and column included."""
        p = np.asarray(self.transition, np.float64)
        if self.crash_rate == 0:
            return p
        k, enter, leave = len(self.drift), self.crash_rate / self.bars_per_year, 1.0 / self.crash_bars
        out = np.zeros((k + 1, k + 1))
        out[:k, :k], out[:k, k] = p * (1.0 - enter), enter
        out[k, :k], out[k, k] = leave * _stationary(p), 1.0 - leave
        return out

    def long_run_log_drift(self) -> float:
        """Expected annual log return: sum_k pi_k (mu_k - sigma_k^2 / 2) + jump_intensity jump_mean."""
        mu = self.regime_drift() - 0.5 * self.regime_volatility() ** 2
        return float(self.stationary_distribution() @ mu + self.jump_intensity * self.jump_mean)

    def stationary_distribution(self) -> np.ndarray:
        """(K,) stationary distribution of the regime chain (the crash regime's included)."""
        return _stationary(self.regime_transition())


def _stationary(p: np.ndarray) -> np.ndarray:
    """(K,) stationary distribution of the transition matrix p[from, to]."""
    vals, vecs = np.linalg.eig(np.asarray(p, np.float64).T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
    return v / v.sum()


class SyntheticMarket(NamedTuple):
    data: MarketData  # the bars, all valid
    regime: jax.Array  # (S, T) int32: hidden regime of each bar


def _shocks(key: jax.Array, cfg: SyntheticConfig) -> jax.Array:
    """(S, T) standard normal shocks with the market and sector factors mixed in."""
    S, T = cfg.num_symbols, cfg.num_bars
    z = jax.random.normal(key, (S, T))  # the idiosyncratic part (all of it with no factors)
    if cfg.market_correlation == 0 and cfg.sector_correlation == 0:
        return z
    k_m, k_g = jax.random.split(jax.random.fold_in(key, 1))
    market = jax.random.normal(k_m, (1, T))
    sector = jax.random.normal(k_g, (cfg.num_sectors, T))[jnp.arange(S) % cfg.num_sectors]
    rho_m, rho_g = cfg.market_correlation, cfg.sector_correlation
    return np.sqrt(rho_m) * market + np.sqrt(rho_g) * sector + np.sqrt(1.0 - rho_m - rho_g) * z


@partial(jax.jit, static_argnums=1)
def _simulate(key: jax.Array, cfg: SyntheticConfig) -> tuple[jax.Array, jax.Array]:
    """Returns prices (S, T, 5) float32 and regimes (S, T) int32."""
    S, T, K = cfg.num_symbols, cfg.num_bars, cfg.num_regimes
    dt = 1.0 / cfg.bars_per_year
    k_r0, k_chain, k_z, k_jump, k_jsize, k_gap, k_hi, k_lo, k_vol = jax.random.split(key, 9)

    cum_p = jnp.cumsum(jnp.asarray(cfg.regime_transition(), jnp.float32), axis=1)  # (K, K)
    pi = jnp.asarray(cfg.stationary_distribution(), jnp.float32)
    chains = 1 if cfg.shared_regime else S
    r0 = jax.random.choice(k_r0, K, shape=(chains,), p=pi).astype(jnp.int32)
    u = jax.random.uniform(k_chain, (T - 1, chains))

    def regime_step(r, u_t):
        nxt = jnp.sum(u_t[:, None] > cum_p[r], axis=-1).astype(jnp.int32)
        nxt = jnp.minimum(nxt, K - 1)  # guards rows summing to 1 - eps in float32
        return nxt, nxt

    _, rest = jax.lax.scan(regime_step, r0, u)
    regime = jnp.broadcast_to(jnp.concatenate([r0[None], rest], axis=0).T, (S, T))  # (S, T)

    mu = jnp.asarray(cfg.regime_drift(), jnp.float32)[regime]
    sigma = jnp.asarray(cfg.regime_volatility(), jnp.float32)[regime]
    z = _shocks(k_z, cfg)
    jumps = jax.random.bernoulli(k_jump, cfg.jump_intensity * dt, (S, T))
    jump_size = cfg.jump_mean + cfg.jump_std * jax.random.normal(k_jsize, (S, T))
    log_ret = (mu - 0.5 * sigma**2) * dt + sigma * jnp.sqrt(dt) * z + jnp.where(jumps, jump_size, 0.0)
    log_ret = log_ret.at[:, 0].set(0.0)  # the first close is initial_price
    log_close = jnp.log(cfg.initial_price) + jnp.cumsum(log_ret, axis=1)
    close = jnp.exp(log_close)

    bar_sd = sigma * jnp.sqrt(dt)
    prev_close = jnp.concatenate([close[:, :1], close[:, :-1]], axis=1)
    open_ = prev_close * jnp.exp(cfg.gap_std * bar_sd * jax.random.normal(k_gap, (S, T)))
    top = jnp.maximum(open_, close) * jnp.exp(cfg.range_scale * bar_sd * jnp.abs(jax.random.normal(k_hi, (S, T))))
    bottom = jnp.minimum(open_, close) * jnp.exp(-cfg.range_scale * bar_sd * jnp.abs(jax.random.normal(k_lo, (S, T))))
    calm = float(cfg.regime_volatility().min())
    log_volume = (
        jnp.log(cfg.volume_base)
        + cfg.volume_beta * (jnp.abs(z) + jnp.log(sigma / calm))
        + cfg.volume_noise * jax.random.normal(k_vol, (S, T))
    )
    prices = jnp.stack([open_, top, bottom, close, jnp.exp(log_volume)], axis=-1)
    return prices.astype(jnp.float32), regime


def _timestamps(cfg: SyntheticConfig) -> np.ndarray:
    """(T,) int64 UTC seconds: business days for daily bars, else evenly spaced."""
    start = np.datetime64(cfg.start, "s")
    if cfg.bar_seconds == SECONDS_PER_DAY:
        days = np.busday_offset(start.astype("datetime64[D]"), np.arange(cfg.num_bars), roll="forward")
        return days.astype("datetime64[s]").astype(np.int64)
    return start.astype(np.int64) + np.arange(cfg.num_bars, dtype=np.int64) * cfg.bar_seconds


def generate(key: jax.Array, cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticMarket:
    """Simulate `cfg.num_symbols` x `cfg.num_bars` bars on the device.

    Args:
      key: PRNG key; the same key and config give the same market.
      cfg: the market's parameters.

    Returns:
      `SyntheticMarket(data, regime)`: `data` is a fully valid `MarketData` with
      symbols SYN000, SYN001, ...; `regime` (S, T) the hidden regime per bar.
    """
    prices, regime = _simulate(key, cfg)
    seconds = _timestamps(cfg)
    S, T = cfg.num_symbols, cfg.num_bars
    data = MarketData(
        prices=prices,
        valid=jnp.ones((S, T), bool),
        day=jnp.asarray(seconds // SECONDS_PER_DAY, jnp.int32),
        second=jnp.asarray(seconds % SECONDS_PER_DAY, jnp.int32),
        sentiment=jnp.zeros((S, T), jnp.float32),
        aux=jnp.full((S, T, NUM_AUX), 1.0 / NUM_AUX, jnp.float32),
        symbols=tuple(f"SYN{i:03d}" for i in range(S)),
    )
    return SyntheticMarket(data=data, regime=regime)


def on_calendar(key: jax.Array, cfg: SyntheticConfig, calendar: MarketData, prefix: str = "AUG") -> MarketData:
    """`cfg.num_symbols` synthetic symbols (named prefix000, ...) on `calendar`'s timestamps, one bar on each,
    with drift and volatility annualised at its bars per year (e.g. to add to real data with `join`)."""
    cfg = replace(cfg, num_bars=calendar.num_bars, bars_per_year=calendar.bars_per_year())
    data = generate(key, cfg).data
    return data.replace(day=calendar.day, second=calendar.second,
                        symbols=tuple(f"{prefix}{i:03d}" for i in range(cfg.num_symbols)))
