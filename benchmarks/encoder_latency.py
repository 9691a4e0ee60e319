"""Actor-critic forward latency (P50/P95 at batch 32) and throughput at a large batch.

For the full model (4 layers, d_model 256, 8 heads; 3.24 M parameters) and the
quickstart model, on whatever device JAX uses, in float32 and (on accelerators)
bfloat16. Each call is one jitted forward pass of a batch of observations
(24 x 23 window + summaries + mask -> 7 masked logits and a value), timed to
completion; the FLOPs per observation are XLA's count of the compiled forward pass.
Writes benchmarks/results/encoder_latency_<platform>.json.

    python benchmarks/encoder_latency.py [--batch 32] [--large-batch 4096] [--calls 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import compiled_flops, device_info, write_results  # noqa: E402

from jaxtrade.agents import ActorCritic, AgentConfig, count_params  # noqa: E402
from jaxtrade.env.types import Observation  # noqa: E402

MODELS = {
    "full_4L_256D": AgentConfig(),
    "quickstart_2L_32D": AgentConfig(num_layers=2, d_model=32, num_heads=4, mlp_dim=64, head_dim=32),
}


def observations(batch: int) -> Observation:
    ks = jax.random.split(jax.random.key(0), 6)
    return Observation(
        technical=jax.random.normal(ks[0], (batch, 24, 23)), aux=jax.random.uniform(ks[1], (batch, 3)),
        position=jax.random.normal(ks[2], (batch, 5)), portfolio=jax.random.normal(ks[3], (batch, 8)),
        risk=jax.random.normal(ks[5], (batch, 5)),
        regime=jax.random.normal(ks[4], (batch, 10)), action_mask=jnp.ones((batch, 7), bool))


def latency(fn, params, obs, calls: int) -> dict:
    jax.block_until_ready(fn(params, obs))
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        jax.block_until_ready(fn(params, obs))
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--large-batch", type=int, default=4096)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    dtypes = ["float32"] if device_info()["platform"] == "cpu" else ["float32", "bfloat16"]
    results = {"batch": args.batch, "large_batch": args.large_batch, "models": {}}
    for name, base in MODELS.items():
        for dtype in dtypes:
            cfg = AgentConfig(**{**vars(base), "dtype": dtype})
            net = ActorCritic(cfg)
            params = net.init(jax.random.key(0), observations(2))
            fn = jax.jit(net.apply)
            small = latency(fn, params, observations(args.batch), args.calls)
            big_obs = observations(args.large_batch)
            big_calls = max(3, min(args.calls, 20))
            big = latency(fn, params, big_obs, big_calls)
            flops = compiled_flops(net.apply, params, big_obs) / args.large_batch
            obs_per_s = args.large_batch / (big["p50_ms"] / 1e3)
            row = {"params": count_params(params), "dtype": dtype, "latency": small,
                   "large_batch": big, "large_batch_obs_per_s": obs_per_s,
                   "flops_per_obs": flops, "large_batch_tflops": flops * obs_per_s / 1e12}
            results["models"][f"{name}_{dtype}"] = row
            print(f"{name:<20} {dtype:<8} {row['params']:>9,} params | batch {args.batch}: "
                  f"P50 {small['p50_ms']:.2f} ms, P95 {small['p95_ms']:.2f} ms | batch {args.large_batch}: "
                  f"{obs_per_s:,.0f} obs/s, {flops / 1e6:.1f} MFLOP/obs = {row['large_batch_tflops']:.3f} TFLOP/s")
    print("wrote", write_results("encoder_latency", results))


if __name__ == "__main__":
    main()
