"""Environment steps per second under a random masked policy, JAX env vs NumPy reference vs gym-anytrading.

On the bundled daily stocks (AAPL, GOOG, IBM, MSFT; default features and
EnvConfig), for 1, 64, 1024, 4096 and 16384 parallel envs: one jitted
`lax.scan` of the vmapped, auto-resetting `TradingEnv.step`, with actions drawn
from the observation's action mask inside the scan (the policy a rollout
runs). Also, in the same run: the long-short env (`env.allow_short`,
Discrete(13)) at the same env counts, `step_env` without auto-reset at 4096 envs
(the cost of select-reset), the plain NumPy single-env reference from the tests,
and gym-anytrading's `stocks-v0` (24-bar window) with random actions. Writes
benchmarks/results/env_throughput_<platform>.json.

    python benchmarks/env_throughput.py [--envs 1 64 1024 4096 16384] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent / "tests"))
from common import timed, write_results  # noqa: E402
from reference_env import ReferenceEnv, reference_params  # noqa: E402

from jaxtrade.data.samples import load_sample  # noqa: E402
from jaxtrade.env import EnvConfig, TradingEnv, make_params  # noqa: E402
from jaxtrade.evaluate import random_policy  # noqa: E402
from jaxtrade.features import compute_features  # noqa: E402


def make_runner(env, params, num_envs, num_steps, auto_reset=True):
    step_fn = env.step if auto_reset else env.step_env
    step = jax.vmap(step_fn, in_axes=(0, 0, 0, None))

    def body(carry, key):
        obs, state = carry
        k_act, k_step = jax.random.split(key)
        action = random_policy(k_act, obs)
        obs, state, reward, *_ = step(jax.random.split(k_step, num_envs), state, action, params)
        return (obs, state), reward

    @jax.jit
    def run(obs, state, key):
        (obs, state), rewards = jax.lax.scan(body, (obs, state), jax.random.split(key, num_steps))
        return obs, state, rewards.sum()

    return run


def bench_jax(env, params, num_envs, repeats, auto_reset=True):
    num_steps = int(np.clip(4_000_000 // num_envs, 64, 2_000))
    obs, state = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.key(0), num_envs), params)
    run = make_runner(env, params, num_envs, num_steps, auto_reset)
    t = time.perf_counter()
    jax.block_until_ready(run(obs, state, jax.random.key(1)))
    compile_s = time.perf_counter() - t
    timing = timed(lambda: jax.block_until_ready(run(obs, state, jax.random.key(2))), repeats)
    return {"num_envs": num_envs, "steps_per_run": num_steps, "first_call_s": compile_s, "run": timing,
            "steps_per_s": num_envs * num_steps / timing["median_s"]}


def bench_reference(params, seconds=5.0):
    p = reference_params(params)
    ref, rng = ReferenceEnv(p), np.random.default_rng(0)
    starts = np.stack([p["start_symbol"], p["start_bar"]], axis=1)
    obs = ref.start(*starts[rng.integers(len(starts))])
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        obs, _, terminated, truncated, _ = ref.step(action)
        if terminated or truncated:
            obs = ref.start(*starts[rng.integers(len(starts))])
        steps += 1
    return {"num_envs": 1, "steps_per_s": steps / (time.perf_counter() - t0)}


def bench_anytrading(seconds=5.0):
    import gym_anytrading  # noqa: F401  (registers stocks-v0)
    import gymnasium
    from gym_anytrading.datasets import STOCKS_GOOGL

    env = gymnasium.make("stocks-v0", df=STOCKS_GOOGL, window_size=24, frame_bound=(24, len(STOCKS_GOOGL)))
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
        steps += 1
    return {"num_envs": 1, "steps_per_s": steps / (time.perf_counter() - t0), "bars": len(STOCKS_GOOGL)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 64, 1024, 4096, 16384])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--no-short", action="store_true", help="skip the long-short env rows")
    args = parser.parse_args()

    data = load_sample("stocks_daily")
    params = make_params(data, compute_features(data), EnvConfig())
    env = TradingEnv()
    results = {"data": f"stocks_daily (4 symbols x {data.num_bars} bars)", "num_starts": params.num_starts,
               "policy": "uniform over the action mask", "jax_env": []}
    for n in args.envs:
        row = bench_jax(env, params, n, args.repeats)
        results["jax_env"].append(row)
        print(f"jax env  {n:>6} envs  {row['steps_per_s']:>14,.0f} steps/s  (first call {row['first_call_s']:.1f} s)")
    if not args.no_short:
        short_cfg = EnvConfig(allow_short=True)
        short_params = make_params(data, compute_features(data), short_cfg)
        short_env = TradingEnv(actions=short_cfg.actions)
        results["jax_env_long_short"] = []
        for n in args.envs:
            row = bench_jax(short_env, short_params, n, args.repeats)
            results["jax_env_long_short"].append(row)
            print(f"long-short {n:>6} envs  {row['steps_per_s']:>12,.0f} steps/s")
    if 4096 in args.envs:
        row = bench_jax(env, params, 4096, args.repeats, auto_reset=False)
        results["jax_env_no_autoreset_4096"] = row
        print(f"jax env    4096 envs  {row['steps_per_s']:>14,.0f} steps/s  without auto-reset (step_env)")
    results["numpy_reference"] = bench_reference(params, args.baseline_seconds)
    print(f"numpy reference 1 env {results['numpy_reference']['steps_per_s']:>14,.0f} steps/s")
    results["gym_anytrading_stocks_v0"] = bench_anytrading(args.baseline_seconds)
    print(f"gym-anytrading  1 env {results['gym_anytrading_stocks_v0']['steps_per_s']:>14,.0f} steps/s")
    ref, anyt = results["numpy_reference"]["steps_per_s"], results["gym_anytrading_stocks_v0"]["steps_per_s"]
    results["ratios"] = {kind: {row["num_envs"]: {"vs_numpy_reference": row["steps_per_s"] / ref,
                                                  "vs_gym_anytrading": row["steps_per_s"] / anyt}
                                for row in results[kind]}
                         for kind in ("jax_env", "jax_env_long_short") if kind in results}
    for kind, rows in results["ratios"].items():
        print(kind, " ".join(f"{n}: x{r['vs_numpy_reference']:,.0f} ref / x{r['vs_gym_anytrading']:,.1f} anytrading"
                             for n, r in rows.items()))
    print("wrote", write_results("env_throughput", results))


if __name__ == "__main__":
    main()
