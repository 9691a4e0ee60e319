"""What a resumed run may change: the settings two config dicts differ in, described for an error."""

from __future__ import annotations

import os
from typing import Any

# Settings a resumed run may change: the run's length (extending a finished run).
RESUMABLE_CHANGES = ("ppo.num_updates",)


def config_differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted paths of the settings that differ between two config dicts."""
    out = []
    for key in sorted(set(a) | set(b), key=str):
        path = f"{prefix}{key}"
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += config_differences(x, y, path + ".")
        elif (x is None and isinstance(y, dict)) or (y is None and isinstance(x, dict)):
            continue  # a whole section one side predates (e.g. `portfolio:`, added later): nothing to compare
        elif x != y and not _same_path(x, y):
            out.append(path)
    return out


def _same_path(saved, now) -> bool:
    """A path (or list of paths) a run saved relative, before configs stored them absolute, is the same setting
    as its absolute form now."""
    if isinstance(saved, list) and isinstance(now, list) and len(saved) == len(now):
        return all(_same_path(a, b) for a, b in zip(saved, now, strict=True))
    return (isinstance(saved, str) and isinstance(now, str) and os.path.isabs(now) and not os.path.isabs(saved)
            and os.path.abspath(saved) == now)


def setting_at(config: Any, path: str) -> Any:
    """The value at a dotted path of a config dict (None where it is missing)."""
    for part in path.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def describe_differences(a: dict, b: dict, paths: list[str], a_label: str, b_label: str) -> str:
    """'path: A a_label, B b_label; ...' for the differing `paths` of two config dicts."""
    return "; ".join(f"{k}: {setting_at(a, k)!r} {a_label}, {setting_at(b, k)!r} {b_label}" for k in paths)
