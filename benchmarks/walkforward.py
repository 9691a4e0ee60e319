"""Walk-forward retraining: all folds x seeds as one program against the folds one after another.

    python benchmarks/walkforward.py --config configs/quickstart.yaml --updates 20 --repeats 3

Both arms run the same folds, seeds, updates and tests (`experiment.walkforward.walk_forward_retrain`), in the
same process, alternating, so the ratio is measured on one machine state; compile times are included (a new
run compiles; that is the cost a user pays). The full-length measurement (the config's updates) is
`jaxtrade walkforward`; its report goes beside this one (`walkforward_stocks_<platform>.json`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from common import write_results

from jaxtrade.config import load_config
from jaxtrade.experiment import WalkForwardSpec, load_experiment, walk_forward_retrain
from jaxtrade.experiment.walkforward import plan_folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cfg = load_config(args.config)
    cfg = replace(cfg, ppo=replace(cfg.ppo, num_updates=args.updates))
    exp = load_experiment(cfg)
    spec = WalkForwardSpec(seeds=tuple(int(s) for s in args.seeds.split(",")))
    folds = len(plan_folds(exp, spec))

    def one_program():
        return walk_forward_retrain(exp, spec, log=None).seconds["total"]

    def one_after_another():
        return sum(walk_forward_retrain(exp, spec, log=None, only=[i]).seconds["total"] for i in range(folds))

    rows = []
    for r in range(args.repeats):
        t = time.perf_counter()
        together = one_program()
        apart = one_after_another()
        rows.append({"repeat": r, "one_program_s": together, "one_after_another_s": apart,
                     "ratio": apart / together, "wall_s": time.perf_counter() - t})
        print(f"repeat {r}: one program {together:.1f}s, folds one after another {apart:.1f}s, "
              f"ratio {apart / together:.2f}x", flush=True)
    ratios = [row["ratio"] for row in rows]
    summary = {"ratio_min": min(ratios), "ratio_median": statistics.median(ratios), "ratio_max": max(ratios)}
    print(f"{folds} folds x {len(spec.seeds)} seeds, {args.updates} updates: folds one after another take "
          f"{summary['ratio_median']:.2f}x the one program (min {summary['ratio_min']:.2f}, max "
          f"{summary['ratio_max']:.2f})")
    path = write_results("walkforward", {"config": args.config, "folds": folds, "seeds": list(spec.seeds),
                                         "updates": args.updates, "env_steps_per_run": args.updates *
                                         cfg.ppo.num_envs * cfg.ppo.rollout_len, "rows": rows, **summary})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
