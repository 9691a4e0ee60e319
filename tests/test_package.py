"""The package's conventions: one version everywhere, `--version`, typed, licensed."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

import jaxtrade
from jaxtrade import cli

ROOT = Path(__file__).parents[1]


def test_one_version_everywhere(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"jaxtrade {jaxtrade.__version__}"
    assert version("jaxtrade") == jaxtrade.__version__  # pyproject reads it from the package
    cff = re.search(r"^version: (\S+)$", (ROOT / "CITATION.cff").read_text(), re.M)
    assert cff and cff.group(1) == jaxtrade.__version__
    assert f"## {jaxtrade.__version__} (" in (ROOT / "CHANGELOG.md").read_text()
    assert (ROOT / "jaxtrade" / "py.typed").exists() and "Apache License" in (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize(("master", "agents"), [("portfolio", "quickstart"), ("portfolio_joint", "quickstart"),
                                                ("portfolio143", "synthetic143")])
def test_shipped_master_configs_match_the_agents_config_they_load(master, agents):
    """A master trains over agents only when data, features, window, env and split agree (train-portfolio and
    walkforward --master refuse otherwise): a change to a shipped agents' config must reach its master's."""
    from jaxtrade.config import config_to_dict, load_config

    m, a = (config_to_dict(load_config(ROOT / "configs" / f"{n}.yaml")) for n in (master, agents))
    for key in ("data", "features", "window", "env", "split"):
        assert m[key] == a[key], (master, key)


def test_a_missing_optional_extra_is_named(monkeypatch, tmp_path):
    """plots, gym and parquet are extras: without their package the error says which extra to install."""
    import subprocess
    import sys

    import pandas as pd

    from jaxtrade.data.loaders import load_parquet
    from jaxtrade.errors import ConfigError, DataError
    from jaxtrade.evaluate.plots import _pyplot

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'jaxtrade\[plots\]'"):
        _pyplot()

    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow', 'fastparquet'.")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    (tmp_path / "bars.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match=r"bars.parquet: reading parquet needs pyarrow.*jaxtrade\[parquet\]"):
        load_parquet(tmp_path / "bars.parquet")

    code = "import sys; sys.modules['gymnasium'] = None; import jaxtrade.env.gym_adapter"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode != 0 and "pip install 'jaxtrade[gym]'" in out.stderr


def test_the_env_namespace_is_curated_and_moved_names_warn_with_their_home():
    import jaxtrade.env as env
    from jaxtrade.env.accounting import buy

    assert len(env.__all__) <= 40 and all(hasattr(env, name) for name in env.__all__)
    with pytest.warns(DeprecationWarning, match="import it from jaxtrade.env.accounting"):
        assert env.buy is buy
    with pytest.warns(DeprecationWarning, match=r"LONG_ONLY.intent"):
        assert env.ACTION_SIDE == (0, 1, 1, 1, -1, -1, 1)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        env.nothing  # noqa: B018
    with pytest.warns(DeprecationWarning, match="it is AgentConfig"):
        from jaxtrade.agents import TransformerConfig
    from jaxtrade.agents import AgentConfig

    assert TransformerConfig is AgentConfig
