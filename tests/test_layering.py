"""The import graph runs one way: numeric/errors/progress/files -> data -> features -> env -> agents -> train ->
evaluate
-> config/experiment -> cli. No module imports a module of a layer above its own."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "jaxtrade"
LAYERS = {
    "numeric": 0, "errors": 0, "progress": 0, "files": 0, "version": 0, "data": 1, "features": 2, "env": 3, "agents": 4,
    "train": 5, "evaluate": 6,
    "config": 7, "config_reference": 7, "experiment": 7, "cli": 8, "__main__": 8,
}


def layer_of(module: str) -> int | None:
    """The layer of a `jaxtrade.<part>...` module (None for the package root)."""
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else None


def imports(path: Path, module_level: bool = False) -> list[str]:
    """Every jaxtrade module `path` imports: at any depth (deferred imports included), or with `module_level` only
    those run on import (top-level statements and `if` blocks such as `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    if module_level:
        nodes, stack = [], list(tree.body)
        while stack:
            node = stack.pop()
            nodes += [node]
            stack += (node.body + node.orelse) if isinstance(node, ast.If) else []
    else:
        nodes = list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaxtrade"):
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.startswith("jaxtrade")]
    return out


def test_every_module_has_a_layer():
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if rel.parts[-1] == "__init__" and len(rel.parts) == 2:
            continue  # the package root re-exports the public API
        assert rel.parts[1] in LAYERS, f"{rel}: add its layer to LAYERS"


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if len(rel.parts) == 2 and rel.parts[1] == "__init__":
            continue
        own = LAYERS[rel.parts[1]]
        for module in imports(path):
            target = layer_of(module)
            if target is None or target > own:
                upward.append(f"{'.'.join(rel.parts)} imports {module}")
    assert not upward, "\n".join(upward)


def test_no_import_circle_between_modules():
    """Within a layer too, module-level imports form no circle (e.g. env config -> rewards -> types -> config)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts)
        if rel.parts[-1] == "__init__":
            continue  # packages re-export their modules
        graph[name] = [m for m in imports(path, module_level=True)
                       if (PACKAGE.parent / m.replace(".", "/")).with_suffix(".py").exists()]
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*trail[trail.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
