"""The package layout's rules, read from the source (ast), so a new import edge is a conscious decision.

* `distill/contracts` (the file contracts between stages) imports nothing else of the project;
* `distill/contracts` and `distill/data` (pure dataset logic) import neither seqio, tensorflow nor `tasks`;
* the engine imports only itself and the contracts (it is benchmarked where `distill/*` commands are absent);
* one command imports another only through the edges listed in ALLOWED (commands reuse `data` and
  `contracts` freely; anything else is listed with its reason);
* no module in distill/ or tasks/ is over 450 lines; each command package has `__main__.py` and `cli.py`.

`python tests/test_layout.py --graph [ROOT]` prints the package-level import graph with edge counts.
"""

from __future__ import annotations

import ast
import collections
import os
import sys

if __package__ in (None, ""):  # run as a script: `python tests/test_layout.py --graph`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support import REPO_ROOT

MAX_LINES = 450
COMMANDS = ("build", "convert", "data", "generate", "lab", "quickstart", "report", "serve")
LEAVES = ("contracts", "data")  # every command may import these
HEAVY = ("seqio", "tensorflow", "tensorflow_datasets", "tasks")
# (importer, imported) package edges beyond the leaves, each for a reason.
ALLOWED = {
    ("build", "tasks"): "the student vocabulary kind and its default SentencePiece model",
    ("convert", "engine"): "checkpoint layouts and parameter names are the engine's",
    ("serve", "engine"): "serving decodes with the engine",
    ("report", "tasks"): "self-consistency scores predictions with the registered tasks' postprocessors",
    ("generate", "build"): "the stand-in teacher tokenizes with build's tiktoken loader",
    ("quickstart", "build"): "the teacher tokenizer loader",
    ("quickstart", "generate"): "the stand-in teacher writes its records",
    ("quickstart", "report"): "the quickstart prints the report",
    ("lab", "report"): "the lab reads evaluation metrics with the report's readers",
    ("lab", "convert"): "the exported artifacts are written as convert writes params-only checkpoints",
    ("lab", "engine"): "the exported artifacts are read from engine checkpoints",
}


def package_of(module: str) -> str:
    """`distill.generate.cli` -> `generate`; `tasks.registry` -> `tasks`; else the top-level name."""
    parts = module.split(".")
    if parts[0] == "distill" and len(parts) > 1:
        return parts[1]
    return parts[0]


def _lazy(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside functions: they run on use, not at import."""
    return {
        id(node)
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        for node in ast.walk(fn)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }


def imports(root: str, module_level: bool = False) -> list[tuple[str, str, str]]:
    """(importing file, importer package, imported module) for every absolute import under distill/ and tasks/.

    `module_level`: only the imports that run when the module is imported (not those inside functions).
    """
    found = []
    for top in ("distill", "tasks"):
        for directory, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(f for f in files if f.endswith(".py")):
                path = os.path.join(directory, name)
                module = os.path.relpath(path, root)[: -len(".py")].replace(os.sep, ".")
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read(), path)
                lazy = _lazy(tree) if module_level else set()
                for node in ast.walk(tree):
                    if id(node) in lazy:
                        continue
                    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        targets = [f"{node.module}.{a.name}" for a in node.names]
                    elif isinstance(node, ast.Import):
                        targets = [a.name for a in node.names]
                    else:
                        continue
                    found += [(os.path.relpath(path, root), package_of(module), t) for t in targets]
    return found


def project_edges(root: str) -> collections.Counter:
    project = {"distill", "tasks"}
    edges = collections.Counter()
    for _, source, target in imports(root):
        top = target.split(".")[0]
        if top in project or top in ("seqio", "tensorflow"):
            imported = package_of(target) if top in project else top
            if imported != source:
                edges[(source, imported)] += 1
    return edges


def test_contracts_is_a_leaf() -> None:
    bad = [(f, t) for f, p, t in imports(REPO_ROOT) if p == "contracts" and t.split(".")[0] in ("distill", "tasks")]
    bad = [(f, t) for f, t in bad if package_of(t) != "contracts"]
    assert not bad, f"distill/contracts must import nothing else of the project: {bad}"


def test_pure_packages_import_no_seqio_tensorflow_or_tasks() -> None:
    """Only `distill_examples`' TFRecord (de)serialization may load tensorflow, and only when called."""
    loaded = [(f, t) for f, p, t in imports(REPO_ROOT, module_level=True) if p in LEAVES and t.split(".")[0] in HEAVY]
    assert not loaded, f"distill/contracts and distill/data must import without seqio/tensorflow: {loaded}"
    tasks = [(f, t) for f, p, t in imports(REPO_ROOT) if p in LEAVES and t.split(".")[0] == "tasks"]
    assert not tasks, f"distill/contracts and distill/data must not import tasks: {tasks}"


def test_engine_imports_only_itself_and_the_contracts() -> None:
    bad = [
        (f, t)
        for f, p, t in imports(REPO_ROOT)
        if p == "engine" and t.split(".")[0] in ("distill", "tasks") and package_of(t) not in ("engine", "contracts")
    ]
    assert not bad, f"the engine must not import the commands or tasks: {bad}"


def test_command_edges_are_listed() -> None:
    edges = project_edges(REPO_ROOT)
    unlisted = sorted(
        (a, b)
        for a, b in edges
        if b not in (*LEAVES, "seqio", "tensorflow") and not (a == "engine" or (a, b) in ALLOWED) and a != "tasks"
    )
    assert not unlisted, f"new package edges; list each in ALLOWED with its reason, or remove it: {unlisted}"


def test_no_module_is_over_the_limit() -> None:
    long = []
    for top in ("distill", "tasks"):
        for directory, _, files in os.walk(os.path.join(REPO_ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    with open(path, encoding="utf-8") as f:
                        count = sum(1 for _ in f)
                    if count > MAX_LINES:
                        long.append((os.path.relpath(path, REPO_ROOT), count))
    assert not long, f"modules over {MAX_LINES} lines (split them at their seams): {long}"


def test_every_command_is_a_package_with_main_and_cli() -> None:
    for command in COMMANDS:
        directory = os.path.join(REPO_ROOT, "distill", command)
        for name in ("__init__.py", "__main__.py", "cli.py"):
            assert os.path.isfile(os.path.join(directory, name)), f"distill/{command}/{name} is missing"


def main(argv: list[str]) -> None:
    root = argv[argv.index("--graph") + 1] if len(argv) > argv.index("--graph") + 1 else REPO_ROOT
    for (a, b), count in sorted(project_edges(root).items()):
        print(f"{a} -> {b} ({count})")


if __name__ == "__main__":
    main(sys.argv)
