"""The package version, written once (pyproject.toml, CITATION.cff and `jaxtrade --version` read it)."""

__version__ = "0.1.0"
