"""`FeatureConfig`: static settings of the feature pipeline (they fix the computation's shape)."""

from __future__ import annotations

from dataclasses import dataclass

from jaxtrade.errors import ConfigError
from jaxtrade.features.normalize import NORMALIZATIONS

# Longest indicator look-back (100-bar regime windows) plus EMA settling time.
INDICATOR_WARMUP = 120


@dataclass(frozen=True)
class FeatureConfig:
    """How features are normalised; hashable, so it is a static jit argument."""

    normalization: str = "zscore"  # zscore | minmax | robust (see features.normalize)
    norm_window: int = 252  # bars in the rolling normalisation window
    clip: float = 5.0  # cap on |normalised value| (zscore, robust)

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise ConfigError(
                f"features.normalization: {self.normalization!r} is not one of {list(NORMALIZATIONS)}"
            )
        if not isinstance(self.norm_window, int) or self.norm_window < 2:
            raise ConfigError(f"features.norm_window: must be an integer >= 2, got {self.norm_window!r}")
        if not self.clip > 0:
            raise ConfigError(f"features.clip: must be > 0, got {self.clip!r}")

    @property
    def warmup(self) -> int:
        """Bars after a symbol's first bar before its features are `ready`.

        The normalisation window of a ready bar must hold only warmed-up raw
        features: INDICATOR_WARMUP bars, then norm_window - 1 more.
        """
        return INDICATOR_WARMUP + self.norm_window - 1
