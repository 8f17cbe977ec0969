"""README.md and docs/*.md: every link, make target, override, module and path they name exists."""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pipeline.config import project_config
from pipeline.errors import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
EACH_PAGE = pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
MAKEFILE = (ROOT / "Makefile").read_text()
TARGETS = set(re.findall(r"^([a-zA-Z_-]+):(?!=)", MAKEFILE, re.M))
RECIPES = re.findall(r"^([a-zA-Z_-]+):(?!=).*\n((?:\t.*\n)+)", MAKEFILE, re.M)
HYDRA_TARGETS = {target for target, recipe in RECIPES if "-m pipeline " in recipe}
GROUPS = {path.name for path in (ROOT / "conf").iterdir() if path.is_dir()}
CFG = project_config()
OURS = ("pipeline/", "scratchnn/", "conf/", "tests/", "docs/")
FENCE = re.compile(r"^(<!-- runnable[^\n]*-->\n)?```(\w*)\n(.*?)^```", re.M | re.S)
OVERRIDE = re.compile(r"([a-z_]+)(\.\w+)*=\S*")
ABSENT = object()


def spans(text: str) -> list[str]:
    """The inline code spans outside fenced blocks, whitespace collapsed."""
    return [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", FENCE.sub("", text))]


def commands(text: str) -> list[str]:
    """The lines of bash blocks, ``$ `` lines of console blocks, spans starting ``make`` or
    ``python``, and spans of overrides only (``train.lr=0.5``) as ``python -m pipeline …``."""
    lines = []
    for _, lang, body in FENCE.findall(text.replace("\\\n", " ")):
        if lang in ("bash", "sh"):
            lines += body.splitlines()
        elif lang == "console":
            lines += [line[2:] for line in body.splitlines() if line.startswith("$ ")]
    for span in spans(text):
        if re.match(r"(make|python|\S*/python) ", span):
            lines.append(span)
        elif all((m := OVERRIDE.fullmatch(a)) and m[1] in {*GROUPS, *CFG} for a in span.split()):
            lines.append(f"python -m pipeline {span}")
    return lines


def words(command: str) -> list[str]:
    """``command`` split as the shell would, comments dropped, ``<placeholders>`` one word."""
    return shlex.split(re.sub(r"<[^<>\n]*>", "<x>", command), comments=True)


def override_problems(override: str) -> list[str]:
    """``override`` if no config key, or each option of ``group=a,b`` with no conf/ file."""
    key, _, value = override.partition("=")
    if key.startswith(("+", "~", "-", "hydra.", "hydra/")):
        return []
    if key not in GROUPS:
        return [] if OmegaConf.select(CFG, key, default=ABSENT) is not ABSENT else [override]
    options = [v for v in re.split(r"[,|]", value) if v and v != "null" and "<" not in v]
    return [f"{key}={v}" for v in options if not (ROOT / "conf" / key / f"{v}.yaml").exists()]


def command_problems(command: str) -> list[str]:
    """What ``command`` names that does not exist: make targets and variables, overrides in a
    Hydra target's ARGS or after ``python -m pipeline``, the module of ``python -m``."""
    argv, problems = words(command), []
    if "make" in argv:
        rest = argv[argv.index("make") + 1 :]
        targets = [word for word in rest if "=" not in word and not word.startswith("-")]
        problems += [f"make {target}" for target in targets if target not in TARGETS]
        for name, _, value in (word.partition("=") for word in rest if "=" in word):
            if name == "ARGS" and set(targets) & HYDRA_TARGETS:
                problems += [p for arg in words(value) for p in override_problems(arg)]
            elif not re.search(rf"\$\({name}\)", MAKEFILE):
                problems.append(f"make variable {name}")
            elif name in ("SWEEP", "LAUNCHER"):
                problems += override_problems(f"{name.lower()}={value}")
    if "-m" in argv[:-1]:
        module, *args = argv[argv.index("-m") + 1 :]
        path = ROOT / module.replace(".", "/")
        if not (path.with_suffix(".py").exists() or (path / "__main__.py").exists()):
            problems.append(f"python -m {module}")
        if module == "pipeline":
            problems += [p for arg in args for p in override_problems(arg)]
    return problems


def test_the_checks_catch_what_is_wrong() -> None:
    """A target, a variable, a key, a group option and a module that do not exist are named."""
    bad = "make tarin SWEEP=nope NOPE=1; make train ARGS='train.lrr=1 data=mnis'; python -m x.y"
    found = {p for command in bad.split("; ") for p in command_problems(command)}
    assert found == {"make tarin", "sweep=nope", "make variable NOPE", "train.lrr=1", "data=mnis",
                     "python -m x.y"}  # fmt: skip
    assert command_problems("make sweep ARGS='hydra.x=1 train.lr=1' LAUNCHER=ray FORCE=1") == []
    assert commands("`train.lrr=1 sweep=small` `make tarin` `grad_check=passed`") == [
        "python -m pipeline train.lrr=1 sweep=small", "make tarin"]  # fmt: skip


def test_readme_is_a_front_page() -> None:
    """At most 200 lines, and a link to every page of docs/."""
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    assert not [p.name for p in PAGES[1:] if f"(docs/{p.name})" not in text], "not linked"


@EACH_PAGE
def test_links_point_to_existing_files(page: Path) -> None:
    """Every relative link and image, and its ``#anchor``, exists."""
    for link in re.findall(r"\]\((?![a-z]+:)([^)\s]+)\)", FENCE.sub("", page.read_text())):
        name, _, anchor = link.partition("#")
        target = (page.parent / name).resolve() if name else page
        assert target.exists(), link
        headings = re.findall(
            r"^#+ (.*)$", FENCE.sub("", target.read_text()) if anchor else "", re.M
        )
        slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
        assert not anchor or anchor in slugs, link


@EACH_PAGE
def test_named_targets_variables_keys_modules_and_paths_exist(page: Path) -> None:
    """Each command's make targets and variables, Hydra overrides and module, and each path of
    ours (``pipeline/…``, ``conf/…``) in backticks or commands exist; ``<x>`` and ``*`` glob."""
    text = page.read_text()
    problems = [f"{c!r}: {p}" for c in commands(text) for p in command_problems(c)]
    tokens = [*" ".join(spans(text)).split(), *(w for c in commands(text) for w in words(c))]
    paths = {t.rstrip(".,;:)") for t in tokens if t.startswith(OURS)}
    problems += [p for p in paths if not glob.glob(str(ROOT / re.sub(r"<[^>]*>", "*", p)))]
    assert not problems, f"{page.name} names what does not exist: {sorted(problems)}"


def test_exit_codes_table_is_the_code() -> None:
    """The README's "Exit codes" table lists exactly ``pipeline.errors.ExitCode``."""
    section = README.read_text().split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert {int(code) for code in re.findall(r"^\| (\d+) \|", section, re.M)} == set(ExitCode)


def runnable_blocks(page: Path) -> list[str]:
    """The Python blocks of ``page`` marked ``<!-- runnable -->``."""
    return [body for mark, _, body in FENCE.findall(page.read_text()) if mark]


RUNNABLE = [(page, n, block) for page in PAGES for n, block in enumerate(runnable_blocks(page))]


def test_there_are_runnable_blocks() -> None:
    assert RUNNABLE, "no page marks a block <!-- runnable -->: the next test runs nothing"


@pytest.mark.parametrize(
    ("page", "n", "block"), RUNNABLE, ids=[f"{p.name}#{n}" for p, n, _ in RUNNABLE]
)
def test_runnable_blocks_run(page: Path, n: int, block: str) -> None:
    """Each Python block marked ``<!-- runnable -->`` runs as written."""
    exec(compile(block, f"{page.name} (runnable block {n})", "exec"), {})
