"""PPO training throughput: env steps per second of rollout + GAE + update, tiny and full models.

Builds the env on the bundled daily stocks and runs `Trainer.run_chunk` (the
jitted, fully on-device loop) for a few updates per model, timing the second
call (the first compiles). Env steps/s = updates x num_envs x rollout_len /
seconds. The full model's batch is scaled to the device (`--full-envs`); the
issue's target is >= 100,000 env steps/s for it on an H100. Writes
benchmarks/results/ppo_throughput_<platform>.json.

    python benchmarks/ppo_throughput.py [--full-envs 4096] [--tiny-envs 256] [--updates 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from common import device_info, timed, write_results  # noqa: E402

from jaxtrade.agents import ActorCritic, TransformerConfig, count_params  # noqa: E402
from jaxtrade.data.samples import load_sample  # noqa: E402
from jaxtrade.env import EnvConfig, TradingEnv, make_params  # noqa: E402
from jaxtrade.features import compute_features  # noqa: E402
from jaxtrade.train import PPOConfig, PPOHyperparams, make_train  # noqa: E402

TINY = TransformerConfig(num_layers=1, d_model=32, num_heads=2, mlp_dim=64, head_dim=32)


def bench(name, agent, ppo, env, env_params, repeats):
    network = ActorCritic(agent)
    trainer = make_train(ppo, env, network)
    hp = PPOHyperparams.from_config(ppo)
    runner = jax.jit(trainer.init)(jax.random.key(0), hp, env_params)
    run = jax.jit(trainer.run_chunk, static_argnums=3)
    t = time.perf_counter()
    runner, _ = jax.block_until_ready(run(runner, hp, env_params, ppo.num_updates))
    first = time.perf_counter() - t
    timing = timed(lambda: jax.block_until_ready(run(runner, hp, env_params, ppo.num_updates)), repeats)
    steps = ppo.num_updates * ppo.batch_size
    row = {"params": count_params(runner.train_state.params), "agent": vars(agent), "ppo": vars(ppo),
           "first_call_s": first, "run": timing, "env_steps_per_run": steps,
           "env_steps_per_s": steps / timing["median_s"]}
    print(f"{name:<6} {row['params']:>9,} params, {ppo.num_envs} envs x {ppo.rollout_len} steps x "
          f"{ppo.num_updates} updates: {row['env_steps_per_s']:,.0f} env steps/s (first call {first:.1f} s)")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    on_cpu = device_info()["platform"] == "cpu"
    parser.add_argument("--tiny-envs", type=int, default=256)
    parser.add_argument("--full-envs", type=int, default=64 if on_cpu else 4096)
    parser.add_argument("--rollout", type=int, default=64)
    parser.add_argument("--updates", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    data = load_sample("stocks_daily")
    env = TradingEnv()
    env_params = make_params(data, compute_features(data), EnvConfig())
    common = dict(rollout_len=args.rollout, num_updates=args.updates, update_epochs=4, num_minibatches=4)
    results = {"data": "stocks_daily", "models": {}}
    results["models"]["tiny"] = bench("tiny", TINY, PPOConfig(num_envs=args.tiny_envs, **common), env,
                                      env_params, args.repeats)
    full_dtype = "float32" if on_cpu else "bfloat16"
    results["models"]["full"] = bench("full", TransformerConfig(dtype=full_dtype),
                                      PPOConfig(num_envs=args.full_envs, **common), env, env_params, args.repeats)
    print("wrote", write_results("ppo_throughput", results))


if __name__ == "__main__":
    main()
