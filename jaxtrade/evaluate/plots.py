"""PNG plots: walk-forward equity curves with drawdown, and training curves (reward components per update).

matplotlib is imported lazily with the non-interactive Agg backend, so plotting
works on headless machines and `import jaxtrade` never pulls it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxtrade.env.rewards import REWARD_COMPONENTS
from jaxtrade.errors import ConfigError
from jaxtrade.evaluate.rollout import EpisodeResults


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plots need matplotlib, an optional extra: pip install 'jaxtrade[plots]' (or drop "
                          "--plots)") from None

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
    styles = ("-", "--", "-.", ":")  # overlapping curves (e.g. two policies that both hold) stay visible
    for j, (name, r) in enumerate(results.items()):
        equity, drawdown = equity_curves(r)
        style = dict(ls=styles[j % len(styles)], color=f"C{j}")
        for i in range(cols):
            start = int(np.asarray(r.start_bar)[i])
            t = np.asarray(timestamps)[start:start + equity.shape[1]]
            n = len(t)
            axes[0, i].plot(t, equity[i, :n], label=name, lw=1.4, **style)
            axes[1, i].plot(t, 100 * drawdown[i, :n], lw=1.0, **style)
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


def plot_book(results: dict, symbols: Sequence[str], timestamps: np.ndarray, path: str | Path,
              title: str = "", allocation_of: str | None = None) -> Path:
    """Portfolio equity and drawdown of every shared-book run (`evaluate.shared_book.BookResults`), and the
    per-symbol allocation over time (stacked |weight| of one run, `allocation_of`, default the first).

    Args:
      results: run name -> `BookResults` (all from the same start).
      symbols: the symbol names, in the book's order.
      timestamps: (T,) bar times of the whole data set (x axis).
      path: output .png.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(11, 9), sharex=True, gridspec_kw={"height_ratios": [2.2, 1, 1.6]})
    styles = ("-", "--", "-.", ":")
    for j, (name, r) in enumerate(results.items()):
        steps, start = int(r.steps), int(r.start_bar)
        equity = np.asarray(r.equity, np.float64)[:steps + 1]
        t = np.asarray(timestamps)[start:start + steps + 1]
        style = dict(ls=styles[j % len(styles)], color=f"C{j}")
        axes[0].plot(t, equity, label=name, lw=1.3, **style)
        axes[1].plot(t, 100 * (equity / np.maximum.accumulate(equity) - 1), lw=1.0, **style)
    shown = allocation_of or next(iter(results))
    r = results[shown]
    steps, start = int(r.steps), int(r.start_bar)
    t = np.asarray(timestamps)[start + 1:start + steps + 1]
    weights = 100 * np.abs(np.asarray(r.weights, np.float64)[:steps])
    axes[2].stackplot(t, weights.T, labels=list(symbols) if len(symbols) <= 20 else None, alpha=0.85)
    axes[0].axhline(1.0, color="grey", lw=0.6, ls=":")
    axes[0].set_ylabel("equity / initial")
    axes[0].legend(fontsize=8)
    axes[1].set_ylabel("drawdown %")
    axes[2].set_ylabel(f"allocation %\n({shown})")
    if len(symbols) <= 20:
        axes[2].legend(fontsize=7, ncol=min(len(symbols), 6), loc="upper left")
    axes[2].tick_params(axis="x", labelrotation=30)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_training(history: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """One panel per quantity against the update, as their scales differ by orders of magnitude: each reward
    component's mean per-step value, the weighted reward, the return of finished episodes, the losses,
    entropy, KL and clip fraction.

    Args:
      history: per-update arrays as written by `jaxtrade.train.loop` (`metrics.jsonl`):
        `reward_components` (U, 7), `reward`, `episode_return`, `policy_loss`,
        `value_loss`, `entropy` (U,), optionally `approx_kl`, `clip_fraction`, and `update` (U,).
      path: output .png.
    """
    plt = _pyplot()
    x = np.asarray(history["update"])
    comps = np.asarray(history["reward_components"])
    panels = [(f"component: {name}", comps[:, j]) for j, name in enumerate(REWARD_COMPONENTS)]
    panels += [("reward (weighted sum)", history["reward"]),
               ("return of finished episodes (%)", 100 * np.asarray(history["episode_return"])),
               ("policy loss", history["policy_loss"]), ("value loss", history["value_loss"]),
               ("entropy", history["entropy"])]
    panels += [(name.replace("_", " "), history[name]) for name in ("approx_kl", "clip_fraction") if name in history]
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False, sharex=True)
    for ax, (name, y) in zip(axes.flat, panels, strict=False):
        ax.plot(x, np.asarray(y), lw=1.2, color="black" if name.startswith("reward") else None)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("update")
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


def plot_stitched(result, timestamps: np.ndarray, path: str | Path, folds: list[dict]) -> Path:
    """The stitched out-of-sample record of a walk-forward retraining (`experiment.walkforward`): equity and
    drawdown of every policy, all symbols equally weighted, with fold boundaries (dotted) and the dates a
    terminal rule stopped a symbol (x on the curve); and the per-fold Sharpe of the ensemble vs buy-and-hold.

    Args:
      result: a `WalkForwardResult`.
      timestamps: (T,) bar times.
      folds: `walkforward.fold_rows` (per-fold mean Sharpe).
    """
    plt = _pyplot()
    st = result.stitched
    t = np.asarray(timestamps)[st.first:st.first + st.returns.shape[-1]]
    fig, axes = plt.subplots(3, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [2.2, 1, 1.2]})
    bounds = [t[int(np.argmax(st.fold == f))] for f in range(1, int(st.fold.max()) + 1)]
    for p, name in enumerate(result.policies):
        live = st.live[p].any(0)
        mean = np.where(live, np.where(st.live[p], st.returns[p], 0.0).sum(0) / np.maximum(st.live[p].sum(0), 1), 0.0)
        equity = np.cumprod(1.0 + mean)
        drawdown = equity / np.maximum.accumulate(equity) - 1.0
        style = dict(color=f"C{p}", lw=1.6 if name == "agent ensemble" else 0.9,
                     ls="-" if not name.startswith("agent seed") else ":")
        axes[0].plot(t, equity, label=name, **style)
        axes[1].plot(t, drawdown, **style)
        stops = [int(b) - st.first for b in st.stop_bar[:, p].ravel() if b >= st.first]
        if stops:
            axes[0].plot(t[stops], equity[stops], "x", color=f"C{p}", ms=6)
    for ax in axes[:2]:
        for b in bounds:
            ax.axvline(b, color="grey", ls=":", lw=0.7)
    axes[0].set_ylabel("equity (all symbols, equal weight)")
    axes[0].legend(fontsize=7, ncol=3)
    axes[1].set_ylabel("drawdown")
    x = np.arange(len(folds))
    axes[2].bar(x - 0.2, [f["ensemble_sharpe"] for f in folds], 0.4, label="agent ensemble")
    axes[2].bar(x + 0.2, [f["buy_and_hold_sharpe"] for f in folds], 0.4, label="buy_and_hold")
    axes[2].set_xticks(x, [f["test"][0][:7] for f in folds])
    axes[2].axhline(0.0, color="black", lw=0.6)
    axes[2].set_ylabel("fold Sharpe (symbol mean)")
    axes[2].legend(fontsize=7)
    fig.suptitle("walk-forward retraining: stitched out-of-sample record (x: a stop; dotted: fold boundaries)")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
