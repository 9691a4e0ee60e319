"""Feature-pipeline time for 10 symbols x 50,000 bars, per normalisation mode.

Measures, on whatever device JAX uses: generating the synthetic market, compiling
and running `compute_features` (23 technical + 10 regime features), and reading
the same features back from the disk cache. Writes
benchmarks/results/feature_pipeline_<platform>.json.

    python benchmarks/feature_pipeline.py [--symbols 10] [--bars 50000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from common import timed, write_results  # noqa: E402

from jaxtrade.data.synthetic import SyntheticConfig, generate  # noqa: E402
from jaxtrade.features import FeatureConfig, cached_features, compute_features  # noqa: E402
from jaxtrade.features.normalize import NORMALIZATIONS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--bars", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--norm-window", type=int, default=252)
    args = parser.parse_args()

    syn = SyntheticConfig(num_symbols=args.symbols, num_bars=args.bars, bars_per_year=6048.0, bar_seconds=3600)
    t = time.perf_counter()
    data = generate(jax.random.key(0), syn).data
    data.prices.block_until_ready()
    first_gen = time.perf_counter() - t
    gen = timed(lambda: generate(jax.random.key(1), syn).data.prices.block_until_ready(), args.repeats)
    bars = args.symbols * args.bars
    results = {
        "symbols": args.symbols,
        "bars_per_symbol": args.bars,
        "norm_window": args.norm_window,
        "synthetic_generation": {"first_call_s": first_gen, **gen},
        "modes": {},
    }
    print(f"{args.symbols} symbols x {args.bars} bars on {jax.devices()[0].device_kind}")
    print(f"synthetic market: first call {first_gen:.2f}s, then {gen['median_s'] * 1e3:.1f} ms")
    for mode in NORMALIZATIONS:
        cfg = FeatureConfig(normalization=mode, norm_window=args.norm_window)
        t = time.perf_counter()
        compiled = compute_features.lower(data, cfg).compile()
        compile_s = time.perf_counter() - t
        run = timed(lambda c=compiled: c(data).technical.block_until_ready(), args.repeats)
        with tempfile.TemporaryDirectory() as tmp:
            cached_features(data, cfg, tmp)
            read = timed(lambda c=cfg, d=tmp: cached_features(data, c, d)[0].technical.block_until_ready(),
                         args.repeats)
        results["modes"][mode] = {
            "compile_s": compile_s,
            "run": run,
            "bars_per_s": bars / run["median_s"],
            "cache_read": read,
        }
        print(f"{mode:>7}: compile {compile_s:5.2f}s  run {run['median_s'] * 1e3:8.1f} ms "
              f"({bars / run['median_s'] / 1e6:6.2f} M bars/s)  cache read {read['median_s'] * 1e3:6.1f} ms")
    path = write_results("feature_pipeline", results)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
