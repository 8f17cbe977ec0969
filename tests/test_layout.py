"""The layout: imports flow one way, no private names of other packages, every folder mapped.

Imports flow ``scratchnn`` <- stages <- tracking and sweeps <- entry: the library knows
nothing of the pipeline, Hydra or MLflow; a stage knows nothing of Hydra, MLflow or tracking.
Every import statement counts, also one inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("scratchnn", "pipeline", "tests")
# A layer of our code -> the layers of ours it may import (besides itself).
MAY_IMPORT = {
    "scratchnn": (),
    "pipeline.stages": ("scratchnn",),
    "pipeline.config": ("scratchnn", "pipeline.stages"),
    "pipeline.tracking": ("scratchnn", "pipeline.stages"),
    "pipeline.sweeps": ("scratchnn", "pipeline.stages", "pipeline.config", "pipeline.tracking"),
}
NEVER = {  # packages a layer must not import at all
    "scratchnn": ("hydra", "omegaconf", "mlflow", "matplotlib", "threadpoolctl"),
    "pipeline.stages": ("hydra", "omegaconf", "mlflow", "matplotlib"),
    "pipeline.tracking": ("hydra",),
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


def layer(module: str) -> str | None:
    """The layer of one of our modules (None: the entry, which may import anything)."""
    return next((name for name in MAY_IMPORT if module.split(".")[: name.count(".") + 1]
                 == name.split(".")), None)  # fmt: skip


def test_the_layers_exist():
    names = {module_name(path) for path in sources("scratchnn", "pipeline")}
    for name in MAY_IMPORT:
        assert name in names, name


@pytest.mark.parametrize("path", sources("scratchnn", "pipeline"), ids=module_name)
def test_imports_flow_one_way(path):
    own = layer(module_name(path))
    if own is None:
        return  # the entry, run, progress and the tools may import anything
    for module, _ in imports(path):
        top = module.split(".")[0]
        assert top not in NEVER.get(own, ()), f"{module_name(path)} imports {module}"
        theirs = layer(module) if top in OURS else None
        if top in OURS:
            assert theirs is not None and theirs in (own, *MAY_IMPORT[own]), (
                f"{module_name(path)} ({own}) imports {module}"
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
