"""The layout: every module in a layer, imports flow one way, no import circle, no private
names of other packages, every folder mapped.

Layers, from the bottom: ``scratchnn`` and the leaf modules (errors, loopback, progress) <-
stages, figures <- model <- config (validation), tracking <- jobs, sweeps <- run <- tools
and the entry. The
library knows nothing of the pipeline, Hydra or MLflow; a stage knows nothing of Hydra, MLflow
or tracking; a figure nothing of MLflow or files; only tracking (the edge) and model load
MLflow. Every import statement counts, also one inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("scratchnn", "pipeline", "tests")
LEAVES = ("pipeline.errors", "pipeline.loopback", "pipeline.progress", "pipeline.numerics")
# A layer of our code -> the layers of ours it may import (besides itself).
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "scratchnn": (),
    "pipeline": ("pipeline.numerics",),  # the package's own __init__: sets the numerics
    **{leaf: () for leaf in LEAVES},
    "pipeline.stages": ("scratchnn", "pipeline.errors"),
    "pipeline.figures": (),
    "pipeline.model": ("scratchnn", "pipeline.stages"),
    "pipeline.config": ("scratchnn", "pipeline.stages"),
    "pipeline.validation": ("scratchnn", "pipeline.stages", "pipeline.config"),
    "pipeline.tracking": (
        "scratchnn", "pipeline.errors", "pipeline.numerics", "pipeline.stages", "pipeline.figures",
        "pipeline.model",
    ),
    "pipeline.jobs": (
        "scratchnn", "pipeline.config", "pipeline.progress", "pipeline.stages",
        "pipeline.figures", "pipeline.tracking",
    ),
    "pipeline.sweeps": (
        "scratchnn", "pipeline.errors", "pipeline.loopback", "pipeline.numerics", "pipeline.config",
        "pipeline.validation", "pipeline.stages", "pipeline.figures", "pipeline.tracking",
    ),
    "pipeline.run": (
        "pipeline.config", "pipeline.numerics", "pipeline.validation", "pipeline.jobs",
        "pipeline.tracking",
    ),
    "pipeline.tools": (
        "pipeline", "pipeline.errors", "pipeline.loopback", "pipeline.numerics", "pipeline.config",
        "pipeline.stages",
        "pipeline.tracking", "pipeline.sweeps", "pipeline.run",
    ),
    "pipeline.__main__": (
        "pipeline.errors", "pipeline.numerics", "pipeline.config", "pipeline.stages",
        "pipeline.tracking",
        "pipeline.sweeps", "pipeline.run",
    ),
}  # fmt: skip
NOT_MLFLOW = ("hydra", "omegaconf", "mlflow", "matplotlib")
NEVER = {  # packages a layer must not import at all
    "scratchnn": (*NOT_MLFLOW, "threadpoolctl"),
    "pipeline.stages": NOT_MLFLOW,
    "pipeline.figures": ("hydra", "omegaconf", "mlflow"),
    "pipeline.model": ("hydra", "omegaconf", "matplotlib"),
    "pipeline.tracking": ("hydra",),
    **{name: ("mlflow",) for name in ("pipeline.config", "pipeline.jobs", "pipeline.sweeps")},
    "pipeline.validation": ("mlflow",),
    **{name: ("mlflow",) for name in ("pipeline.run", "pipeline.tools", "pipeline.__main__")},
}
# Underscore names that are documented public API (os._exit, namedtuple methods); names like
# ``_target_`` are Hydra's documented config keys.
PUBLIC_UNDERSCORE = ("_exit", "_asdict", "_replace", "_fields", "_make")


def sources(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) of every import statement in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def layer(module: str) -> str:
    """The layer of one of our modules: the longest name of ``MAY_IMPORT`` it starts with."""
    parts = module.split(".")
    found = [name for name in MAY_IMPORT if parts[: name.count(".") + 1] == name.split(".")]
    assert found, f"{module} is in no layer of tests/test_layout.py"
    return max(found, key=len)


def our_imports(path: Path, modules: set[str]) -> set[str]:
    """Our modules ``path`` imports: ``from pipeline.figures import digits`` names the module
    ``pipeline.figures.digits`` (a module of ``modules``), else the package it imports from."""
    found = set()
    for module, names in imports(path):
        if module.split(".")[0] not in ("scratchnn", "pipeline"):
            continue
        submodules = {f"{module}.{name}" for name in names} & modules
        found |= submodules or {module}
    return found - {module_name(path)}


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of ``graph`` (node -> the nodes it points at), as the nodes along it with the
    first repeated at the end; None if there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            circle = visit(target)
            if circle:
                return circle
        path.pop()
        done.add(node)
        return None

    return next((c for node in sorted(graph) if (c := visit(node))), None)


def test_the_circle_finder_finds_circles():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_circle({"a": {"a"}}) == ["a", "a"]


def test_the_layers_exist_and_form_no_circle():
    names = {module_name(path) for path in sources("scratchnn", "pipeline")}
    for name in MAY_IMPORT:
        assert name in names, name
    layers = {name: set(allowed) for name, allowed in MAY_IMPORT.items()}
    assert find_circle(layers) is None


def test_no_module_imports_another_in_a_circle():
    paths = sources("scratchnn", "pipeline")
    modules = {module_name(path) for path in paths}
    graph = {module_name(path): our_imports(path, modules) for path in paths}
    circle = find_circle(graph)
    assert circle is None, "import circle: " + " -> ".join(circle)


@pytest.mark.parametrize("path", sources("scratchnn", "pipeline"), ids=module_name)
def test_imports_flow_one_way(path):
    own = layer(module_name(path))
    for module, _ in imports(path):
        top = module.split(".")[0]
        assert top not in NEVER.get(own, ()), f"{module_name(path)} imports {module}"
        if top in OURS:
            theirs = layer(module)
            assert theirs in (own, *MAY_IMPORT[own]), (
                f"{module_name(path)} ({own}) imports {module} ({theirs})"
            )


def test_importing_the_stages_loads_neither_hydra_nor_mlflow():
    code = (
        "import sys, pipeline.stages.data, pipeline.stages.train, pipeline.stages.evaluate, "
        "pipeline.stages.descent\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'hydra', 'mlflow', "
        "'omegaconf', 'matplotlib'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def is_private(name: str) -> bool:
    special = name.startswith("__") or name.endswith("_")
    return name.startswith("_") and not special and name not in PUBLIC_UNDERSCORE


@pytest.mark.parametrize("path", sources("scratchnn", "pipeline", "tests"), ids=module_name)
def test_no_private_name_of_another_package(path):
    """Neither an import of a private module or name of a third-party package, nor a
    private attribute of anything but ``self`` or ``cls`` (a client's, a store's...)."""
    for module, names in imports(path):
        top = module.split(".")[0]
        if top in OURS or top in sys.stdlib_module_names or top == "__future__":
            continue
        private = [part for part in [*module.split("."), *names] if is_private(part)]
        assert not private, f"{module_name(path)} imports {module} {names}"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and is_private(node.attr):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            assert owner in ("self", "cls"), (
                f"{module_name(path)}:{node.lineno} reads .{node.attr} of {ast.unparse(node.value)}"
            )


def test_every_package_says_what_it_holds_and_the_readme_maps_it():
    readme = (ROOT / "README.md").read_text()
    assert "## Where things are" in readme
    where = readme.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    inits = [path for path in sources("scratchnn", "pipeline") if path.name == "__init__.py"]
    packages = [path.parent for path in inits]
    assert len(packages) >= 7
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc and len(doc.splitlines()) >= 2, f"{package} has no docstring"
        assert f"`{package.relative_to(ROOT).as_posix()}/`" in where, package
    for folder in ("conf", "outputs", "tests"):
        assert f"`{folder}/`" in where, folder
