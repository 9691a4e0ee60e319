"""The configuration reference, generated from the config dataclasses' field comments (the one source).

    print(config_reference())   # Markdown: one table per section (key, default, what it does)

A field's text is its trailing comment plus the comment lines around it: comment lines between two fields belong
to the field after them when that field has no trailing comment of its own, else to the field before them (a
continuation). `field_docs` gives them per class; the docs site renders `config_reference()` into its
configuration page, and a test checks that every field has one.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import tokenize
from typing import Any

from jaxtrade.config import Config, field_default


def field_docs(cls: type) -> dict[str, str]:
    """{field name: its comment text} of a dataclass, read from its source (see the module docstring)."""
    if "FIELD_DOCS" in vars(cls):  # a class made at run time (`RewardWeights`) carries its texts
        return dict(vars(cls)["FIELD_DOCS"])
    names = {f.name for f in dataclasses.fields(cls)}
    source = inspect.getsource(cls)
    fields: list[tuple[str, list[str]]] = []  # (name, trailing comment) in order
    pending: list[str] = []  # comment lines seen since the last field
    attached: dict[str, list[str]] = {}
    depth = 0
    line_tokens: list[tokenize.TokenInfo] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type in (tokenize.NEWLINE, tokenize.NL) and depth == 0:
            _take_line(line_tokens, names, fields, pending, attached)
            line_tokens = []
        else:
            line_tokens.append(tok)
    _take_line(line_tokens, names, fields, pending, attached)
    return {name: " ".join(attached[name]).strip() for name, _ in fields}


def _take_line(tokens, names, fields, pending, attached) -> None:
    """One logical source line of the class body: a field (with its trailing comment) or a comment line."""
    significant = [t for t in tokens if t.type not in (tokenize.INDENT, tokenize.DEDENT)]
    if not significant:
        return
    if significant[0].type == tokenize.COMMENT:  # a comment-only line
        pending.append(significant[0].string.lstrip("#").strip())
        return
    first = significant[0]
    if not (first.type == tokenize.NAME and first.string in names and len(significant) > 1
            and significant[1].string == ":" and first.start[1] == 4):
        pending.clear()  # code after the fields (a method, a constant): comments above it are its own
        return
    trailing = [t.string.lstrip("#").strip() for t in significant if t.type == tokenize.COMMENT]
    if trailing and fields:
        attached[fields[-1][0]] += pending  # a continuation of the field before
        text = list(trailing)
    else:
        text = pending + trailing
    pending.clear()
    fields.append((first.string, trailing))
    attached[first.string] = text


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def sections(cls: type = Config, prefix: str = "", instance: Any = None
             ) -> list[tuple[str, type, list[tuple[str, str, str]]]]:
    """[(section path, its class, [(key, default, text)])], nested sections after their parent; the defaults
    are `instance`'s where given (a section whose default is not its class's, e.g. `augment.synthetic`)."""
    docs, rows, nested = field_docs(cls), [], []
    for f in dataclasses.fields(cls):
        default = getattr(instance, f.name) if instance is not None else field_default(f)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(default):
            rows.append((key, f"section `{key}`", docs[f.name]))
            nested += sections(type(default), f"{key}.", default)
        else:
            rows.append((key, _show(default), docs[f.name]))
    return [(prefix.rstrip("."), cls, rows), *nested]


def config_reference() -> str:
    """The whole configuration reference as Markdown: a table per section, its class named."""
    out = []
    for path, cls, rows in sections():
        title = f"`{path}`" if path else "top level"
        summary = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        out += [f"### {title}", "", f"`{cls.__module__}.{cls.__qualname__}`: {summary}", "",
                "| key | default | what it does |", "| --- | --- | --- |"]
        out += [f"| `{key}` | {default if default.startswith('section') else f'`{default}`'} | "
                f"{text.replace('|', chr(92) + '|')} |" for key, default, text in rows]
        out.append("")
    return "\n".join(out)


__all__ = ["config_reference", "field_docs", "sections"]
