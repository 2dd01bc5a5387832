"""The import graph of keras_ceb follows docs/architecture.md: each layer imports only layers
below it (or its own), only `__main__` imports the CLI, and no module uses another module's
private (`_`) names."""

import ast
import pathlib
import re

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "keras_ceb"
# Bottom to top, as docs/architecture.md draws them; a module may import its own layer and the
# layers below it. The key is the module's first name under keras_ceb (`training` for
# `keras_ceb.training.recipe`); "keras_ceb" is the package's own `__init__`.
LAYERS = [
    {"keras_ceb", "validation", "console", "xla_cpu", "lazy"},
    {"ops"},
    {"losses", "metrics"},
    {"layers"},
    {"rho", "inference", "export", "distribute", "datasets", "models"},
    {"attacks", "evaluation", "callbacks"},
    {"reporting", "run_folder"},
    {"training"},
    {"tuning"},
    {"commands"},
    {"cli", "__main__"},
]


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts)
        yield re.sub(r"\.__init__$", "", name), ast.parse(path.read_text())


def _top(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "keras_ceb"


def _imports(tree):
    """(imported module, imported name or None, alias) of each keras_ceb import."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("keras_ceb"):
                    yield alias.name, None, alias.asname or alias.name
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_ceb"):
            for alias in node.names:
                target = (
                    f"{node.module}.{alias.name}" if node.module == "keras_ceb" else node.module
                )
                yield target, alias.name, alias.asname or alias.name


def _rank(top):
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_every_module_is_in_a_layer():
    tops = {_top(module) for module, _ in _modules()}
    placed = set().union(*LAYERS)
    assert tops <= placed, sorted(tops - placed)


def test_imports_go_down_the_layers():
    upward = []
    for module, tree in _modules():
        for target, _, _ in _imports(tree):
            if _rank(_top(target)) > _rank(_top(module)):
                upward.append(f"{module} imports {target}")
    assert not upward, upward


def test_only_main_imports_the_cli():
    found = [
        module
        for module, tree in _modules()
        for target, _, _ in _imports(tree)
        if target == "keras_ceb.cli" and module != "keras_ceb.__main__"
    ]
    assert not found, found


def test_no_module_uses_another_modules_private_names():
    found = []
    for module, tree in _modules():
        aliases = {}
        for target, name, alias in _imports(tree):
            if name is not None and name.startswith("_") and not name.startswith("__"):
                found.append(f"{module}: from {target} import {name}")
            aliases[alias] = (
                target if name is None or target.endswith(f".{name}") else f"{target}.{name}"
            )
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{module}: {aliases[node.value.id]}.{node.attr}")
    assert not found, sorted(set(found))


def test_the_architecture_page_lists_the_layers():
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    for layer in LAYERS:
        for top in layer - {"keras_ceb", "__main__"}:
            assert f"`{top}`" in text, top
