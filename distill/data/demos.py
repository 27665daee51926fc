"""Which in-context demonstrations an ic_* example gets: drawn per example, or a fixed prompt file.

Default (as Fu et al.): 4 GSM8K gold rationales per example from the GSM8K *train* split (the
500 validation questions are never shown), drawn afresh for each example. Unlike Fu et al. (who
used an unseeded `np.random.choice` and did not exclude the example itself) the draw is
deterministic, a function of (seed, example id) only, and never returns the example itself.

Fixed prompt: every example gets the same exemplars, all of those in a prompt file, in file order.
The file is relative to the data directory (and then sha256-checked) or absolute, either JSONL
`{question, rationale, answer}` (e.g. `prompts/wei2022_gsm8k_8shot_cot.jsonl`, the 8 exemplars
of Wei et al. 2022) or text blocks `Q: ...` / `Let's think step by step` / rationale lines /
`The answer is N` separated by blank lines (e.g.
`prompts/flant5-cot-specialization/prompt_simple_4_cases.txt`, Fu et al.'s evaluation prompt).

Both are gin-configurable (`demo_settings.num_demos`, `.prompt_file`, `.seed`) and read when a
dataset is built, so a gin file or `--gin.demo_settings.prompt_file=...` flag changes them.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import gin

from distill.data import sources
from distill.data.data_dir import DataFormatError
from distill.data.formats import ANSWER_PREFIX, COT_TRIGGER, Demo
from distill.data.jsonio import field, read_jsonl
from distill.data.loaders import MathProblem


@dataclass(frozen=True)
class DemoSettings:
    num_demos: int = 4
    prompt_file: str | None = None
    seed: int = 0


@gin.configurable
def demo_settings(num_demos: int = 4, prompt_file: str | None = None, seed: int = 0) -> DemoSettings:
    """The in-context demonstration settings in force (gin-bindable)."""
    if num_demos < 0:
        raise ValueError(f"num_demos must be >= 0, got {num_demos}")
    return DemoSettings(num_demos, prompt_file, seed)


def as_demo(problem: MathProblem) -> Demo:
    if problem.rationale is None:
        raise ValueError(f"{problem.id} has no rationale and cannot be a CoT demonstration")
    return Demo(problem.question, problem.rationale, problem.answer_text)


def sample_demos(example_id: str, pool: Sequence[MathProblem], count: int, seed: int = 0) -> list[Demo]:
    """`count` distinct problems of `pool`, never `example_id` itself, chosen by (seed, example_id).

    Draw j picks index sha256(f"{seed}:{example_id}:{j}") mod len(pool), skipping repeats and the
    example itself: no RNG stream that could change between library versions.
    """
    if count >= len(pool):
        raise ValueError(f"cannot draw {count} demonstrations from a pool of {len(pool)}")
    chosen: list[int] = []
    draw = 0
    while len(chosen) < count:
        digest = hashlib.sha256(f"{seed}:{example_id}:{draw}".encode()).digest()
        index = int.from_bytes(digest[:8], "big") % len(pool)
        draw += 1
        if index not in chosen and pool[index].id != example_id:
            chosen.append(index)
    return [as_demo(pool[i]) for i in chosen]


def read_prompt_file(path: str) -> tuple[Demo, ...]:
    """Exemplars of a fixed prompt file (JSONL or Q:/A: text blocks; see the module docstring)."""
    if path.endswith(".jsonl"):
        demos = []
        for record in read_jsonl(path):
            answer = field(record, "answer", (str, int, float), path)
            demos.append(Demo(field(record, "question", str, path), field(record, "rationale", str, path), str(answer)))
        return tuple(demos)
    return _read_text_prompt(path)


_QUESTION = re.compile(r"^(?:Q|Question):\s*")


def _read_text_prompt(path: str) -> tuple[Demo, ...]:
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    demos, block, start = [], [], 0
    for number, line in enumerate([*lines, ""], 1):
        if line.strip():
            if not block:
                start = number
            block.append(line.strip())
            continue
        if not block:
            continue
        if not _QUESTION.match(block[0]):
            raise DataFormatError(path, start, "Q:", f"exemplar must start with 'Q:', got {block[0]!r:.60}")
        if len(block) < 2 or not block[-1].startswith(ANSWER_PREFIX):
            raise DataFormatError(path, start, ANSWER_PREFIX.strip(), "exemplar must end with 'The answer is N'")
        steps = block[1:-1]
        if steps and steps[0].rstrip(".") == COT_TRIGGER:
            steps = steps[1:]
        question = _QUESTION.sub("", block[0])
        demos.append(Demo(question, "\n".join(steps), block[-1].removeprefix(ANSWER_PREFIX).rstrip(".")))
        block = []
    if not demos:
        raise DataFormatError(path, None, "Q:", "no exemplars found")
    return tuple(demos)


@functools.cache
def _fixed_prompt(path: str) -> tuple[Demo, ...]:
    return read_prompt_file(path)


def fixed_demos(prompt_file: str) -> tuple[Demo, ...]:
    """The exemplars of a prompt file (relative to the data directory, or absolute)."""
    return _fixed_prompt(sources.resolve(prompt_file))


def demos_for(example_id: str, pool: Sequence[MathProblem], settings: DemoSettings) -> Sequence[Demo]:
    """The demonstrations for one ic_* example under `settings`."""
    if settings.prompt_file:
        return fixed_demos(settings.prompt_file)
    return sample_demos(example_id, pool, settings.num_demos, settings.seed)
