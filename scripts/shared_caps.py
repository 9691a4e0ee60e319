"""Choose the agents' caps on the walk-forward's shared account: train once, test each setting on the same agents.

    python scripts/shared_caps.py --config configs/quickstart.yaml --caps vol:0.15 equal vol:0.10 vol:0.20 \
        --trials 13 --out benchmarks/results/walkforward_caps

One walk-forward retraining (`walk_forward_retrain`, the config's folds and seeds), then the shared account under
each `--caps` setting (`rebook`: none, equal, or vol:TARGET), each with its own report `<out>_<setting>.json` (as
`jaxtrade walkforward --report` writes it) and a line with what a selection rule on the shared account reads: the
mean of the judged row's per-fold Sharpe over the validation folds (`--valid-folds`, default the first five) and
its worst per-fold drawdown there. Which setting that chooses is the reader's rule, fixed before the run.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from jaxtrade.config import load_config
from jaxtrade.experiment import WalkForwardSpec, load_experiment, rebook, walk_forward_retrain, walkforward_summary


def caps_config(portfolio, text: str):
    """`portfolio` with the caps of 'none', 'equal' or 'vol:TARGET'."""
    kind, _, target = text.partition(":")
    if kind == "vol":
        return replace(portfolio, agent_caps="vol", cap_vol=float(target or portfolio.cap_vol))
    return replace(portfolio, agent_caps=kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--caps", nargs="+", default=["vol:0.15", "equal"])
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--valid-folds", type=int, default=5)
    parser.add_argument("--out", default="walkforward_caps")
    args = parser.parse_args()
    exp = load_experiment(load_config(args.config))
    spec = WalkForwardSpec(seeds=tuple(int(s) for s in args.seeds.split(",")), trials=args.trials)
    result = walk_forward_retrain(exp, spec)
    lines = []
    for text in args.caps:
        portfolio = caps_config(exp.cfg.portfolio, text)
        caps = rebook(exp, result, portfolio)
        exp_caps = replace(exp, cfg=replace(exp.cfg, portfolio=portfolio))
        out = walkforward_summary(exp_caps, spec, caps, report=f"{args.out}_{text.replace(':', '')}.json",
                                  log=print)
        valid = out["folds"][:args.valid_folds]
        sharpe = np.mean([f["shared_judged_sharpe"] for f in valid])
        worst = min(f["shared_judged_max_drawdown"] for f in valid)
        row = next(r for r in out["portfolio"] if r["policy"] == caps.books.judged)
        lines.append(f"{text:>10}: validation folds Sharpe {sharpe:.3f}, worst fold drawdown {worst:.1%}; "
                     f"whole record (report only) Sharpe {row['sharpe']:.2f}, max DD {row['max_drawdown']:.1%}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
