"""mkdocs hooks: the configuration page's reference table, generated from the config dataclasses."""

from __future__ import annotations

MARKER = "<!-- config-reference -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    from jaxtrade.config_reference import config_reference

    return markdown.replace(MARKER, config_reference())
