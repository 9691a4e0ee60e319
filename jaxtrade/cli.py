"""Command line: `jaxtrade summary --config configs/quickstart.yaml`."""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from jaxtrade.errors import ConfigError, DataError


def _summary(args: argparse.Namespace) -> int:
    from jaxtrade.config import load_config
    from jaxtrade.data.config import load_data
    from jaxtrade.features.cache import cached_features
    from jaxtrade.features.pipeline import REGIME_FEATURES, TECHNICAL_FEATURES, compute_features

    cfg = load_config(args.config)
    t0 = time.perf_counter()
    data = load_data(cfg.data, min_bars=cfg.min_bars)
    t1 = time.perf_counter()
    if args.no_cache:
        feats, hit = compute_features(data, cfg.features), False
    else:
        feats, hit = cached_features(data, cfg.features, args.cache_dir)
    feats.technical.block_until_ready()
    t2 = time.perf_counter()

    src = cfg.data.sample if cfg.data.source == "sample" else cfg.data.source
    print(f"jaxtrade summary: {args.config} (data: {src})")
    print(f"{data.num_symbols} symbols x {data.num_bars} bars, ~{data.bars_per_year():.0f} bars/year, "
          f"loaded in {t1 - t0:.2f}s")
    print(f"{'symbol':<8} {'bars':>6} {'missing':>7} {'ready':>6}  {'first':<19} {'last':<19} {'last close':>10}")
    ready = np.asarray(feats.ready).sum(axis=1)
    for row, n_ready in zip(data.summary(), ready, strict=True):
        print(f"{row['symbol']:<8} {row['bars']:>6} {row['missing']:>7} {n_ready:>6}  "
              f"{row['first']:<19} {row['last']:<19} {row['last_close']:>10.4f}")
    how = "read from cache" if hit else "computed"
    print(f"features {how} in {t2 - t1:.2f}s: technical {tuple(feats.technical.shape)}, "
          f"regime {tuple(feats.regime.shape)}, normalization={cfg.features.normalization} "
          f"(window {cfg.features.norm_window})")
    mask = np.asarray(feats.ready)
    for title, names, values in (("technical", TECHNICAL_FEATURES, feats.technical),
                                 ("regime", REGIME_FEATURES, feats.regime)):
        v = np.asarray(values)[mask]
        print(f"{title} features over ready bars: name, mean, std, min, max")
        for i, name in enumerate(names):
            col = v[:, i]
            print(f"  {name:<18} {col.mean():>9.4f} {col.std():>9.4f} {col.min():>9.4f} {col.max():>9.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxtrade", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="load data, build features, print a summary")
    p.add_argument("--config", required=True, help="YAML config file")
    p.add_argument("--cache-dir", default=None, help="feature cache folder")
    p.add_argument("--no-cache", action="store_true", help="always recompute features")
    p.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return _summary(args)
    except (ConfigError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
