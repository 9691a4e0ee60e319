"""PNG plots: walk-forward equity curves with drawdown, and training curves (reward components per update).

matplotlib is imported lazily with the non-interactive Agg backend, so plotting
works on headless machines and `import jaxtrade` never pulls it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxtrade.env.config import REWARD_COMPONENTS
from jaxtrade.evaluate.rollout import EpisodeResults


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def equity_curves(r: EpisodeResults) -> tuple[np.ndarray, np.ndarray]:
    """(equity / initial, drawdown), both (E, H+1) starting at 1 and 0; NaN after an episode ended."""
    rets = np.asarray(r.step_returns, np.float64)
    steps = np.asarray(r.steps)
    equity = np.concatenate([np.ones((rets.shape[0], 1)), np.cumprod(1.0 + rets, axis=1)], axis=1)
    drawdown = equity / np.maximum.accumulate(equity, axis=1) - 1.0
    after = np.arange(equity.shape[1])[None, :] > steps[:, None]
    equity[after] = np.nan
    drawdown[after] = np.nan
    return equity, drawdown


def plot_walk_forward(results: dict[str, EpisodeResults], symbols: Sequence[str], timestamps: np.ndarray,
                      path: str | Path, title: str = "") -> Path:
    """One column per symbol: equity (top) and drawdown (bottom) of every policy over the split.

    Args:
      results: policy name -> `walk_forward` results (the same symbols in each).
      symbols: names indexed by `EpisodeResults.symbol`.
      timestamps: (T,) bar times of the whole data set (x axis).
      path: output .png.
    """
    plt = _pyplot()
    first = next(iter(results.values()))
    cols = first.symbol.shape[0]
    fig, axes = plt.subplots(2, cols, figsize=(4.5 * cols, 6), sharex="col", squeeze=False,
                             gridspec_kw={"height_ratios": [2.2, 1]})
    for name, r in results.items():
        equity, drawdown = equity_curves(r)
        for i in range(cols):
            start = int(np.asarray(r.start_bar)[i])
            t = np.asarray(timestamps)[start:start + equity.shape[1]]
            n = len(t)
            axes[0, i].plot(t, equity[i, :n], label=name, lw=1.2)
            axes[1, i].plot(t, 100 * drawdown[i, :n], lw=1.0)
    for i in range(cols):
        axes[0, i].set_title(symbols[int(np.asarray(first.symbol)[i])])
        axes[0, i].axhline(1.0, color="grey", lw=0.6, ls=":")
        axes[1, i].set_ylabel("drawdown %" if i == 0 else "")
        axes[1, i].tick_params(axis="x", labelrotation=30)
    axes[0, 0].set_ylabel("equity / initial")
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_training(history: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Reward components (weighted into the reward), reward, episode return and losses against the update.

    Args:
      history: per-update arrays as written by `jaxtrade.train.loop` (`metrics.jsonl`):
        `reward_components` (U, 7), `reward`, `episode_return`, `policy_loss`,
        `value_loss`, `entropy` (U,), and `update` (U,).
      path: output .png.
    """
    plt = _pyplot()
    x = np.asarray(history["update"])
    comps = np.asarray(history["reward_components"])
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    ax = axes[0, 0]
    for j, name in enumerate(REWARD_COMPONENTS):
        ax.plot(x, comps[:, j], label=name, lw=1.2)
    ax.plot(x, np.asarray(history["reward"]), label="reward (weighted)", color="black", lw=1.8)
    ax.set_title("mean per-step reward components")
    ax.legend(fontsize=7, ncol=2)
    axes[0, 1].plot(x, 100 * np.asarray(history["episode_return"]))
    axes[0, 1].set_title("mean return of finished episodes (%)")
    axes[1, 0].plot(x, np.asarray(history["policy_loss"]), label="policy")
    axes[1, 0].plot(x, np.asarray(history["value_loss"]), label="value")
    axes[1, 0].set_title("losses")
    axes[1, 0].legend(fontsize=8)
    axes[1, 1].plot(x, np.asarray(history["entropy"]))
    axes[1, 1].set_title("policy entropy")
    for a in axes[1]:
        a.set_xlabel("update")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path
