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
