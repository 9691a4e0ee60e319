"""Export a config's features to one long parquet file, for analysis outside JAX.

One row per (symbol, bar) with the timestamp, OHLCV, validity and ready flags,
the 23 technical features and the 10 regime indicators:

    python scripts/export_features.py --config configs/quickstart.yaml --out features.parquet
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from jaxtrade.config import load_config
from jaxtrade.data import PRICE_FIELDS, load_data
from jaxtrade.errors import ConfigError, DataError
from jaxtrade.features import REGIME_FEATURES, TECHNICAL_FEATURES, cached_features


def features_frame(config_path: str) -> pd.DataFrame:
    """The long table of bars and features for the config at `config_path`."""
    cfg = load_config(config_path)
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    feats, _ = cached_features(data, cfg.features)
    S, T = data.num_symbols, data.num_bars
    cols = {
        "symbol": np.repeat(np.array(data.symbols), T),
        "time": np.tile(data.timestamps(), S),
        **{f: np.asarray(data.prices[..., i]).ravel() for i, f in enumerate(PRICE_FIELDS)},
        "valid": np.asarray(data.valid).ravel(),
        "ready": np.asarray(feats.ready).ravel(),
    }
    tech = np.asarray(feats.technical).reshape(S * T, -1)
    reg = np.asarray(feats.regime).reshape(S * T, -1)
    cols |= {f"tech_{n}": tech[:, i] for i, n in enumerate(TECHNICAL_FEATURES)}
    cols |= {f"regime_{n}": reg[:, i] for i, n in enumerate(REGIME_FEATURES)}
    return pd.DataFrame(cols)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True, help="output .parquet file")
    parser.add_argument("--ready-only", action="store_true", help="keep only bars past the warm-up")
    args = parser.parse_args(argv)
    try:
        df = features_frame(args.config)
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.ready_only:
        df = df[df.ready]
    df.to_parquet(args.out, index=False)
    print(f"wrote {len(df)} rows x {df.shape[1]} columns to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
