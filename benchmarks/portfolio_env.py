"""Portfolio env throughput at 143 symbols: portfolio steps/s and symbol decisions/s, memory, symbol scaling.

A synthetic market of 143 symbols (11 sectors; shocks correlate 0.3 through the
market factor and 0.5 within a sector), default features and EnvConfig. For 1,
64 and 1,024 parallel portfolios: one jitted `lax.scan` of the vmapped,
auto-resetting `PortfolioEnv.step` with every symbol's action drawn from its
mask and the budgets at the per-symbol limit. In the same run: the single-symbol
`TradingEnv` with as many envs as the portfolios hold symbols (the cost of
coupling the symbols on one book), and the per-step time at 16, 64 and 143
symbols (64 portfolios) to check that a step grows linearly in symbols. Also the
bytes of the market arrays on the device, of one portfolio's state and of one
observation. Writes benchmarks/results/portfolio_env_<platform>.json.

    python benchmarks/portfolio_env.py [--portfolios 1 64 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from common import timed, write_results  # noqa: E402
from env_throughput import bench_jax  # noqa: E402

from jaxtrade.data.synthetic import SyntheticConfig, generate  # noqa: E402
from jaxtrade.env import EnvConfig, TradingEnv, make_params  # noqa: E402
from jaxtrade.env.params import make_portfolio_params  # noqa: E402
from jaxtrade.env.portfolio import PortfolioEnv  # noqa: E402
from jaxtrade.env.types import PortfolioAction  # noqa: E402
from jaxtrade.features import FeatureConfig, compute_features  # noqa: E402

SYMBOLS, SECTORS, BARS = 143, 11, 1_500


def nbytes(tree) -> int:
    return int(sum(np.dtype(x.dtype).itemsize * int(np.prod(x.shape)) for x in jax.tree.leaves(tree)))


def market(symbols: int):
    cfg = SyntheticConfig(num_symbols=symbols, num_bars=BARS, num_sectors=min(SECTORS, symbols),
                          market_correlation=0.3, sector_correlation=0.2)
    data = generate(jax.random.key(0), cfg).data
    return data, compute_features(data, FeatureConfig())


def bench_portfolio(env, params, portfolios, repeats):
    S = params.num_symbols
    steps = int(np.clip(2_000_000 // (portfolios * S), 8, 500))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    budget = jnp.full((portfolios, S), float(params.env.rules.max_position))

    def body(carry, key):
        obs, state = carry
        k_act, k_step = jax.random.split(key)
        action = jax.random.categorical(k_act, jnp.where(obs.symbols.action_mask, 0.0, -jnp.inf))
        obs, state, reward, *_ = step(jax.random.split(k_step, portfolios), state, PortfolioAction(action, budget),
                                      params)
        return (obs, state), reward

    @jax.jit
    def run(obs, state, key):
        (obs, state), rewards = jax.lax.scan(body, (obs, state), jax.random.split(key, steps))
        return obs, state, rewards.sum()

    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(jax.random.split(jax.random.key(0), portfolios),
                                                                   params)
    t = time.perf_counter()
    jax.block_until_ready(run(obs, state, jax.random.key(1)))
    first = time.perf_counter() - t
    timing = timed(lambda: jax.block_until_ready(run(obs, state, jax.random.key(2))), repeats)
    per_s = portfolios * steps / timing["median_s"]
    return {"portfolios": portfolios, "symbols": S, "steps_per_run": steps, "first_call_s": first, "run": timing,
            "portfolio_steps_per_s": per_s, "symbol_decisions_per_s": per_s * S,
            "ms_per_step": 1e3 * timing["median_s"] / steps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--portfolios", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cfg = EnvConfig()
    t = time.perf_counter()
    data, features = market(SYMBOLS)
    prepared = time.perf_counter() - t
    params = make_portfolio_params(data, features, cfg)
    env = PortfolioEnv()
    memory = {"market_arrays_bytes": nbytes(params.env.market) + nbytes(params.tradeable),
              "state_bytes_per_portfolio": nbytes(env.reset_at(params.start_bars[0], params)[1]),
              "observation_bytes_per_portfolio": nbytes(env.reset_at(params.start_bars[0], params)[0])}
    print(f"{SYMBOLS} symbols x {BARS} bars (synthetic, features in {prepared:.1f} s); memory {memory}")

    rows = []
    for n in args.portfolios:
        row = bench_portfolio(env, params, n, args.repeats)
        single = bench_jax(TradingEnv(), make_params(data, features, cfg), n * SYMBOLS, args.repeats)
        row["single_symbol_env_steps_per_s"] = single["steps_per_s"]
        row["decisions_vs_single_symbol_env"] = row["symbol_decisions_per_s"] / single["steps_per_s"]
        rows.append(row)
        print(f"{n:>5} portfolios x {SYMBOLS}: {row['portfolio_steps_per_s']:>10,.1f} portfolio steps/s, "
              f"{row['symbol_decisions_per_s']:>12,.0f} symbol decisions/s "
              f"({row['decisions_vs_single_symbol_env']:.2f}x the single-symbol env's steps/s with {n * SYMBOLS:,} "
              f"envs: {single['steps_per_s']:,.0f}); run min/median/max {row['run']['min_s']:.3f}/"
              f"{row['run']['median_s']:.3f}/{row['run']['max_s']:.3f} s")

    scaling = []
    for S in (16, 64, SYMBOLS):
        d, f = market(S) if S != SYMBOLS else (data, features)
        row = bench_portfolio(env, make_portfolio_params(d, f, cfg), 64, args.repeats)
        scaling.append(row)
        print(f"64 portfolios x {S:>3} symbols: {row['ms_per_step']:.2f} ms a step, "
              f"{row['ms_per_step'] / S * 1e3:.1f} us per symbol")
    base = scaling[0]["ms_per_step"] / scaling[0]["symbols"]
    for row in scaling:
        row["per_symbol_cost_vs_16"] = row["ms_per_step"] / row["symbols"] / base
    path = write_results("portfolio_env", {"symbols": SYMBOLS, "bars": BARS, "sectors": SECTORS,
                                           "memory": memory, "rows": rows, "symbol_scaling_64_portfolios": scaling})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
