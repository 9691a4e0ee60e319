"""TensorBoard scalars: the project's own event writer (`train.events`) against tensorboardX's `SummaryWriter`.

    pip install tensorboardX   # only for this comparison; jaxtrade does not depend on it
    python benchmarks/tensorboard_writer.py --rows 2000 --repeats 5

The same metrics rows (what `fit` logs: ~20 scalars a row, step = env steps, each row's own wall time) written
as a training run writes them (chunks of `--chunk` rows, each appended and forced to disk) and as a resume
rewrites a kept history (all rows at once). Both files are read back with TensorBoard's own reader
(`EventAccumulator`) and must hold the same steps, values and wall times. Timings are the median, min and max of
`--repeats`, both writers alternating in the same process; the ratio is tensorboardX's time over ours.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import write_results

from jaxtrade.train.events import append_events, rewrite_events

TAGS = ("reward", "policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction", "grad_norm",
        "learning_rate", "episodes", "episode_return", "sharpe", "max_drawdown", "trades", "win_rate",
        "exposure", "cost", "reward_pnl", "reward_cost", "reward_drawdown", "reward_sizing")


def metrics_rows(n: int, seed: int = 0) -> list[dict]:
    """n rows as `fit` writes them: update, env steps, wall time, and the scalars."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n, len(TAGS))).astype(np.float32)
    return [{"update": u + 1, "env_steps": 8192 * (u + 1), "wall_time": 1.7e9 + 0.5 * u,
             **{t: float(v) for t, v in zip(TAGS, values[u], strict=True)}} for u in range(n)]


def ours(directory: Path, rows: list[dict], chunk: int) -> None:
    for i in range(0, len(rows), chunk):
        append_events(directory, rows[i:i + chunk])


def ours_rewrite(directory: Path, rows: list[dict]) -> None:
    rewrite_events(directory, rows)


def tbx(directory: Path, rows: list[dict], chunk: int) -> None:
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(directory), flush_secs=3600)
    for i in range(0, len(rows), chunk):
        for row in rows[i:i + chunk]:
            for t in TAGS:
                writer.add_scalar(t, row[t], row["env_steps"], walltime=row["wall_time"])
        writer.flush()  # a chunk on disk, as `fit` forces it
    writer.close()


def read(directory: Path) -> dict[str, list[tuple[int, float, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(directory), size_guidance={"scalars": 0})
    acc.Reload()
    return {t: [(e.step, e.value, e.wall_time) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


def timed(fn) -> float:
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        fn(Path(d))
        return time.perf_counter() - t


def summary(times: list[float]) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rows = metrics_rows(args.rows)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        ours(Path(a), rows, args.chunk)
        tbx(Path(b), rows, args.chunk)
        mine, theirs = read(Path(a)), read(Path(b))
    assert sorted(mine) == sorted(TAGS) == sorted(theirs), (sorted(mine), sorted(theirs))
    for t in TAGS:
        assert mine[t] == theirs[t], t  # the same steps, float32 values and wall times, event by event
    arms = {"ours, chunks": lambda d: ours(d, rows, args.chunk),
            "tensorboardX, chunks": lambda d: tbx(d, rows, args.chunk),
            "ours, rewrite": lambda d: ours_rewrite(d, rows),
            "tensorboardX, rewrite": lambda d: tbx(d, rows, len(rows))}
    times: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(args.repeats):
        for name, fn in arms.items():
            times[name].append(timed(fn))
    ratio = {kind: [t / o for t, o in zip(times[f"tensorboardX, {kind}"], times[f"ours, {kind}"], strict=True)]
             for kind in ("chunks", "rewrite")}
    import tensorboardX

    out = {"rows": args.rows, "scalars_per_row": len(TAGS), "chunk": args.chunk, "repeats": args.repeats,
           "tensorboardX": tensorboardX.__version__, "same_events": True,
           "seconds": {k: summary(v) for k, v in times.items()},
           "tensorboardX_over_ours": {k: summary(v) for k, v in ratio.items()}}
    print(f"{args.rows} rows x {len(TAGS)} scalars; both files read back by TensorBoard with the same events")
    for k, v in out["seconds"].items():
        print(f"  {k:<22} median {v['median_s'] * 1e3:8.1f} ms (min {v['min_s'] * 1e3:.1f}, max "
              f"{v['max_s'] * 1e3:.1f})")
    for k, v in out["tensorboardX_over_ours"].items():
        print(f"  tensorboardX / ours, {k}: median {v['median_s']:.2f}x (min {v['min_s']:.2f}, max {v['max_s']:.2f})")
    print(f"results: {write_results('tensorboard_writer', out)}")


if __name__ == "__main__":
    main()
