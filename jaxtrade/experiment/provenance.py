"""What identifies a run's inputs beyond its config, recorded with every checkpoint and compared by every later
command: the data (a fingerprint per symbol and split, the bar count and dates, each split's bar range and
dates) and, for a master, the symbol agents' step and checksum.

    record = data_record(exp)                  # saved in the checkpoint's metadata (`Setup.record`)
    problems, notes = compare_data(saved, exp, "test")

A resume refuses any change (`train.loop.fit` compares the whole record). An evaluation refuses a change to the
bars the agent trained on, and a split that overlaps them; it names other changes (new bars appended, later bars
edited) in a note and goes on, since evaluating on newer data is what a user does.
"""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import numpy as np

from jaxtrade.data.types import MarketData


class RunInputs(Protocol):
    """What the records read of an `experiment.build.Experiment` (named here so the two modules do not import each
    other)."""

    data: MarketData

    def bars(self, split: str) -> tuple[int, int]: ...

    @property
    def record(self) -> dict: ...


SPLITS = ("train", "validation", "test")


def resolve_paths(config: dict) -> dict:
    """The config dict with its file paths (`data.paths`, `portfolio.symbol_agents`) made absolute, so a run
    restores from any working directory and never reads a same-named file elsewhere."""
    out = {**config}
    data = out.get("data")
    if isinstance(data, dict) and data.get("paths"):
        out["data"] = {**data, "paths": [os.path.abspath(p) for p in data["paths"]]}
    portfolio = out.get("portfolio")
    if isinstance(portfolio, dict) and portfolio.get("symbol_agents"):
        out["portfolio"] = {**portfolio, "symbol_agents": os.path.abspath(portfolio["symbol_agents"])}
    return out


def _fingerprint(exp: RunInputs, s: int, first: int, end: int) -> str:
    """sha256 (16 hex digits) of symbol s's bars [first, end): prices, validity, sentiment, aux and times."""
    d, h = exp.data, hashlib.sha256()
    for arr in (d.prices[s, first:end], d.valid[s, first:end], d.sentiment[s, first:end], d.aux[s, first:end],
                d.day[first:end], d.second[first:end]):
        h.update(np.ascontiguousarray(np.asarray(arr)).tobytes())
    return h.hexdigest()[:16]


def data_record(exp: RunInputs) -> dict:
    """The data a run reads: bar count and dates, each split's bar range and dates, a fingerprint per symbol and
    split."""
    ts = exp.data.timestamps()
    bars = {name: exp.bars(name) for name in SPLITS}
    return {
        "bars": int(exp.data.num_bars),
        "dates": [str(ts[0]), str(ts[-1])],
        "splits": {name: {"bars": [a, b], "dates": [str(ts[a]), str(ts[b - 1])] if b > a else None}
                   for name, (a, b) in bars.items()},
        "fingerprints": {sym: {name: _fingerprint(exp, s, a, b) for name, (a, b) in bars.items()}
                         for s, sym in enumerate(exp.data.symbols)},
        "notes": list(exp.data.notes),  # rows the loader made gaps (`data.on_bad_rows`, days without trading)
    }


def compare_data(saved: dict | None, exp: RunInputs, split: str) -> tuple[list[str], list[str]]:
    """(problems, notes) of evaluating a run whose data record is `saved` on `exp`'s `split`.

    Problems (the evaluation would be wrong): the training split's dates or bars changed, or `split` now overlaps
    the bars the run trained on. Notes (named, not refused): other bars changed, or the data grew or shrank.
    A run saved before records existed (`saved` None) gives neither.
    """
    if not saved:
        return [], []
    now = exp.record["data"]
    problems, notes = [], []
    trained = saved["splits"]["train"]["dates"]
    if now["splits"]["train"]["dates"] != trained:
        problems.append(f"the train split now spans {_span(now['splits']['train']['dates'])}, the run trained on "
                        f"{_span(trained)}")
    changed_train = [sym for sym, fp in saved["fingerprints"].items()
                     if now["fingerprints"].get(sym, {}).get("train") != fp["train"]]
    if changed_train:
        problems.append(f"the training bars of {', '.join(changed_train)} differ from those the run trained on")
    evaluated = now["splits"][split]["dates"]
    if evaluated and trained and evaluated[0] <= trained[1] and split != "train":
        problems.append(f"the {split} split ({_span(evaluated)}) overlaps the bars the run trained on "
                        f"({_span(trained)})")
    if now["bars"] != saved["bars"] or now["dates"] != saved["dates"]:
        notes.append(f"{now['bars']:,} bars ({_span(now['dates'])}) now, {saved['bars']:,} "
                     f"({_span(saved['dates'])}) when trained")
    later = sorted({f"{sym} {name}" for sym, fp in saved["fingerprints"].items() for name in SPLITS[1:]
                    if now["fingerprints"].get(sym, {}).get(name) != fp.get(name)})
    if later and not changed_train:
        notes.append(f"bars after training differ ({', '.join(later)})")
    return problems, notes


def _span(dates: list[str] | None) -> str:
    return f"{dates[0]} .. {dates[1]}" if dates else "no bars"


__all__ = ["compare_data", "data_record", "resolve_paths"]
