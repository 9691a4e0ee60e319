"""Measure a config's reward against equity, and what each risk rule does to buy-and-hold.

Two tables per split (train and validation; the test split is never read):
1. fixed policies (next-bar oracle, always long, half the position limit held,
   SMA crossover, cash, random) from the same starts: mean equity return and mean
   shaped reward per episode, and each component's sum; the reward is aligned when
   both columns give the same order.
2. always-long's mean return per episode (the largest buy every bar, never sold)
   with the config's risk rules, with each rule switched off in turn, with all off, and with the position cap at 100 %:
   the measurement behind each config's stop loss / take profit / max hold / cap.

    python scripts/reward_alignment.py --config configs/quickstart.yaml [--episodes 512]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import jax

from jaxtrade.config import load_config
from jaxtrade.data import load_data
from jaxtrade.data.splits import split_bars
from jaxtrade.env import TradingEnv, make_params
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.evaluate import BASELINES, HOLD_RULES
from jaxtrade.evaluate.alignment import (
    clear_pairs,
    format_rewards,
    misordered,
    next_bar_oracle,
    policy_rewards,
    ranked,
    target_exposure_policy,
)
from jaxtrade.features import cached_features

POLICIES = {"oracle (peeks)": next_bar_oracle, "always_long": BASELINES[HOLD_RULES],
            "half held": target_exposure_policy(0.5), "sma_crossover": BASELINES["sma_crossover"],
            "vol_target_hold": BASELINES["vol_target_hold"], "ts_momentum": BASELINES["ts_momentum"],
            "cash": BASELINES["cash"], "random": BASELINES["random"]}


def rule_variants(env_cfg) -> dict:
    """The config's env, each risk rule off in turn, all off, all off with a 100 % cap."""
    rules = ("stop_loss", "take_profit", "max_hold", "max_drawdown")
    out = {"as configured": env_cfg}
    out.update({f"{r} off": replace(env_cfg, **{r: 0}) for r in rules if getattr(env_cfg, r)})
    off = replace(env_cfg, **{r: 0 for r in rules})
    out["all rules off"] = off
    if env_cfg.max_position < 1:
        out["all off, cap 100 %"] = replace(off, max_position=1.0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--episodes", type=int, default=512)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        data = load_data(cfg.data, min_bars=cfg.min_bars)
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    features, _ = cached_features(data, cfg.features)
    env = TradingEnv(actions=cfg.env.actions)
    splits = split_bars(cfg.split, data)
    e, h = cfg.env, cfg.env.horizon
    print(f"{args.config}: cap {e.max_position:.0%}, stop loss {e.stop_loss:g}, take profit {e.take_profit:g}, "
          f"max hold {e.max_hold}, max drawdown {e.max_drawdown:g}; {args.episodes} episodes of up to {h} steps")
    for split in ("train", "validation"):
        params = make_params(data, features, cfg.env, window=cfg.window, bars=splits[split])
        rows = policy_rewards(env, params, POLICIES, jax.random.key(0), args.episodes, h)
        same = ranked(rows, "mean_reward") == ranked(rows, "mean_return")
        pairs = clear_pairs(rows)
        for_nothing, for_drawdown = misordered(rows)
        flipped = [f"{a} > {b}" for a, b in for_nothing] + [f"{a} > {b} (deeper drawdown)" for a, b in for_drawdown]
        print(f"\n{split}: mean per episode (components summed over the episode); reward order "
              f"{'matches' if same else 'differs from'} return order; of {len(pairs)} pairs whose returns differ "
              f"by > 3 paired s.e. the reward orders " + (f"all {len(pairs)}" if not flipped else
                                                           f"these the other way: {', '.join(flipped)}"))
        print(format_rewards(rows))
        print(f"  always-long (env orders) under the risk rules ({split}):")
        for name, variant in rule_variants(cfg.env).items():
            p = make_params(data, features, variant, window=cfg.window, bars=splits[split])
            row = policy_rewards(env, p, {"bh": BASELINES[HOLD_RULES]}, jax.random.key(0), args.episodes, h)[0]
            print(f"    {name:<22} {row['mean_return']:>+8.2%}  {row['trades']:>5.1f} round trips")
    return 0


if __name__ == "__main__":
    sys.exit(main())
