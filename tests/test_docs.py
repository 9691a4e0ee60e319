"""The docs: the site builds in strict mode, every config key is documented, and every Python snippet in the
README and the docs runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jaxtrade.config_reference import config_reference, field_docs, sections
from jaxtrade.env.config import EnvConfig

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SNIPPET = re.compile(r"```python\n(.*?)```", re.S)


def snippets() -> list[tuple[str, str]]:
    """(page:index, code) of every Python snippet; one shown on two pages (the README's env snippet is the
    environment page's) runs once."""
    seen, out = set(), []
    for page in PAGES:
        for i, code in enumerate(SNIPPET.findall(page.read_text())):
            if code not in seen:
                seen.add(code)
                out.append((f"{page.relative_to(ROOT)}:{i}", code))
    return out


def test_the_site_builds_in_strict_mode(tmp_path):
    # Strict: a broken link, a missing page or snippet file, or an unresolved API reference fails the build.
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stdout + run.stderr
    page = (tmp_path / "site" / "configuration" / "index.html").read_text()
    assert "env.stop_cooldown" in page and "config-reference" not in page  # the generated reference is in
    api = (tmp_path / "site" / "api" / "env" / "index.html").read_text()
    assert 'id="jaxtrade.env.TradingEnv"' in api


def test_every_config_key_is_documented_once():
    keys = [key for _, _, rows in sections() for key, _, text in rows if text]
    every = [key for _, _, rows in sections() for key, _, _ in rows]
    assert keys == every and len(set(every)) == len(every) > 100
    text = config_reference()
    assert "| `env.max_drawdown` | `0.2` |" in text and "| `augment.synthetic.crash_rate` | `0.3` |" in text


def test_field_docs_reads_comments_around_fields():
    docs = field_docs(EnvConfig)
    assert docs["horizon"] == "steps per episode before truncation"
    assert docs["stop_cooldown"].startswith("What the drawdown stop does.")  # a block above, no trailing comment
    assert docs["min_order"].endswith("(no dust positions); 0 = off")  # a trailing comment continued below
    assert docs["stop_penalty"].startswith("Points the drawdown reward charges")


@pytest.mark.parametrize("name, code", snippets(), ids=[name for name, _ in snippets()])
def test_snippet_runs(name, code, tmp_path):
    (tmp_path / "configs").symlink_to(ROOT / "configs")  # snippets name configs relative to the repo root
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=600)
    assert run.returncode == 0, f"{name}:\n{code}\n{run.stderr[-3000:]}"
