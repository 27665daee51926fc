"""T5X's gin flag handling, plus the macro checks T5X lacks.

`--gin.NAME=VALUE` is rewritten to `--gin_bindings=NAME = VALUE` (as `t5x/gin_utils.py`
does), files are searched on `--gin_search_paths` plus the repository root, and after parsing
we reject what gin would silently accept or report far from its cause: a macro set on the
command line that no gin file uses (usually a typo), a `%MACRO` that is never defined, and a
`%gin.REQUIRED` macro left unset. Each message names the gin file involved.

T5X users' own files parse too: `t5x.*` module names resolve to the engine (`t5x_modules`), a
real T5X checkout's root is searched for `include 't5x/...'` as T5X does, the task module named
by `MIXTURE_OR_TASK_MODULE` is imported while gin still accepts new configurables, and T5X
bindings the engine accepts without acting on are logged (`accepted_bindings`).
"""

from __future__ import annotations

import difflib
import importlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import gin

from distill.contracts import durable
from distill.engine import t5x_modules

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_INCLUDE = re.compile(r"""^\s*include\s+['"]([^'"]+)['"]""", re.MULTILINE)


class GinConfigError(ValueError):
    """A gin configuration mistake, reported with the file that caused it."""


def rewrite_gin_args(args: Sequence[str]) -> list[str]:
    """Turns `--gin.NAME=VALUE` into `--gin_bindings=NAME = VALUE`."""
    out = []
    for arg in args:
        if arg.startswith("--gin."):
            if "=" not in arg:
                raise ValueError(f"Gin bindings must be of the form '--gin.<param>=<value>', got: {arg}")
            name, value = arg[len("--gin.") :].split("=", 1)
            arg = f"--gin_bindings={name} = {value}"
        out.append(arg)
    return out


def _resolve(path: str, search_paths: Sequence[str]) -> str | None:
    """Where gin will read `path`: as given (relative to the working directory), else under a search path."""
    if os.path.isabs(path):
        return path if os.path.exists(path) else None
    for base in ["", *search_paths]:
        candidate = os.path.join(base, path)
        if os.path.exists(candidate):
            return candidate
    return None


def _gin_files_with_includes(files: Iterable[str], search_paths: Sequence[str]) -> list[str]:
    seen: list[str] = []
    stack = list(files)
    while stack:
        path = _resolve(stack.pop(0), search_paths)
        if path is None or path in seen:
            continue
        seen.append(path)
        with open(path, encoding="utf-8") as f:
            stack.extend(_INCLUDE.findall(f.read()))
    return seen


def _macro_refs(value: object, found: set[str]) -> None:
    if isinstance(value, gin.config.ConfigurableReference):
        selector = value.scoped_selector
        if selector.endswith("gin.macro") and "/" in selector:
            found.add(selector.rsplit("/", 1)[0])
    elif isinstance(value, dict):
        for item in value.values():
            _macro_refs(item, found)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            _macro_refs(item, found)


def _macro_state() -> tuple[dict[str, object], set[str]]:
    """(defined macros -> value, names referenced as %NAME) in the parsed config."""
    defined, referenced = {}, set()
    for (scope, selector), params in gin.config._CONFIG.items():
        if selector == "gin.macro":
            defined[scope] = params.get("value")
        for value in params.values():
            _macro_refs(value, referenced)
    return defined, referenced


def _value(value: Any) -> Any:
    """A bound value with macros resolved (a reference to a configurable stays a reference)."""
    for _ in range(32):  # Macros may name macros; 32 is deeper than any config nests them.
        reference = isinstance(value, gin.config.ConfigurableReference)
        if not reference or value.configurable.wrapped is not gin.config.macro:
            return value
        value = gin.config._CONFIG.get((value.scoped_selector.rsplit("/", 1)[0], "gin.macro"), {}).get("value")
    return value


def bound_values(name: str, param: str) -> Iterator[tuple[str, str, Any]]:
    """(scope, selector, value) of each binding of `param` on the configurable defined as `name`.

    `name` is the defining `module.qualname` (e.g. `distill.engine.utils.DatasetConfig`): the
    selector a configurable is parsed under depends on the import that registered it first
    (`t5x.utils.DatasetConfig` or `distill.engine.utils.DatasetConfig`), its object does not.
    """
    for (scope, selector), params in gin.config._CONFIG.items():
        wrapped = gin.config._REGISTRY[selector].wrapped
        if param in params and f"{wrapped.__module__}.{getattr(wrapped, '__qualname__', '')}" == name:
            yield scope, selector, _value(params[param])


def import_task_modules() -> list[str]:
    """Imports each `utils.DatasetConfig.module` (T5X's MIXTURE_OR_TASK_MODULE); returns their names.

    Done before the config is locked: a task module may define gin configurables, which gin
    refuses once the config is final (T5X imports it later, when the dataset is built).
    """
    values = bound_values("distill.engine.utils.DatasetConfig", "module")
    names = sorted({value for _, _, value in values if isinstance(value, str) and value})
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:  # Any failure while importing the user's module is reported the same way.
            raise GinConfigError(
                f"MIXTURE_OR_TASK_MODULE (utils.DatasetConfig.module) = {name!r} failed to import: "
                f"{type(err).__name__}: {err}. It must be importable from PYTHONPATH or the working directory."
            ) from err
    return names


def _declared_in(name: str, files: Sequence[str], pattern: str) -> list[str]:
    regex = re.compile(pattern.format(re.escape(name)), re.MULTILINE)
    hits = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            if regex.search(f.read()):
                hits.append(os.path.relpath(path))
    return hits


def parse_gin_flags(
    gin_search_paths: Sequence[str], gin_files: Sequence[str], gin_bindings: Sequence[str], finalize: bool = True
) -> None:
    """Parses files then bindings (later wins), imports the task modules, then validates the macros."""
    from distill.engine import accepted_bindings  # It reads bindings through this module's bound_values.

    t5x_modules.install()
    search_paths = [*gin_search_paths, REPO_ROOT, *filter(None, [t5x_modules.real_t5x_root()])]
    for path in search_paths:
        gin.add_config_file_search_path(path)
    missing = [f for f in gin_files if _resolve(f, search_paths) is None]
    if missing:
        raise GinConfigError(f"gin file(s) not found: {missing} (searched {search_paths})")
    gin.parse_config_files_and_bindings(list(gin_files), list(gin_bindings), finalize_config=False)
    import_task_modules()
    all_files = _gin_files_with_includes(gin_files, search_paths)
    defined, referenced = _macro_state()

    for name in sorted(referenced - set(defined)):
        where = _declared_in(name, all_files, r"%{}\b") or ["a --gin_bindings flag"]
        raise GinConfigError(f"Macro %{name} is used in {', '.join(where)} but never defined.")

    bound_on_command_line = {b.split("=", 1)[0].strip() for b in gin_bindings if "=" in b}
    for name in sorted(bound_on_command_line & (set(defined) - referenced)):
        close = difflib.get_close_matches(name, sorted(referenced), n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise GinConfigError(
            f"--gin.{name} sets a macro that none of the gin files ({', '.join(map(os.path.relpath, all_files))}) "
            f"uses.{hint}"
        )

    unset = [
        name
        for name, value in sorted(defined.items())
        if name in referenced
        and isinstance(value, gin.config.ConfigurableReference)
        and value.scoped_selector.startswith("gin.REQUIRED")
    ]
    if unset:
        lines = []
        for name in unset:
            where = _declared_in(name, all_files, r"^\s*{}\s*=\s*%gin\.REQUIRED") or ["the gin config"]
            lines.append(f"  {name} (declared %gin.REQUIRED in {', '.join(where)})")
        raise GinConfigError(
            "Required macros are not set; pass --gin.NAME=... or set them in your gin file after the includes:\n"
            + "\n".join(lines)
        )
    accepted_bindings.log_unimplemented()
    if finalize:
        gin.finalize()


def summarize_gin_config(model_dir: str) -> None:
    """Writes the full parsed config to MODEL_DIR/config.gin (host 0), as T5X does."""
    import jax

    if jax.process_index() != 0:
        return
    os.makedirs(model_dir, exist_ok=True)
    durable.write_text(os.path.join(model_dir, "config.gin"), gin.config_str())
