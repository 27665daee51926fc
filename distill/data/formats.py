"""The prompt formats, as exact string templates (before `normalize_text`).

Math: the four data formats of Fu et al. 2023 (docs/method.md section 2, from
`src/data_utils.py process_data_format` of FlanT5-CoT-Specialization):

| format | encoder input | decoder target |
| --- | --- | --- |
| `zs_ao` | `"Q: " + Q + " A:"` | `"The answer is " + N` |
| `zs_cot` | `"Q: " + Q + "\\nLet's think step by step"` | rationale + `"\\nThe answer is " + N` |
| `ic_ao` | demos + `"Q: " + Q + "\\nA:"` | `"The answer is " + N` |
| `ic_cot` | demos + `"Q: " + Q + "\\nLet's think step by step"` | rationale + `"\\nThe answer is " + N` |

with answer-only demos `"Q: " + q + "\\nA: The answer is " + n + "\\n\\n"` and CoT demos
`"Q: " + q + "\\nLet's think step by step\\n" + rationale + "\\nThe answer is " + n + "\\n\\n"`,
rationales with their `<<...>>` calculator notes removed. (Fu et al. write the CoT demo as
`re.sub('<<.*?>>', '', gold.split('####')[0]) + 'The answer is ' + n`; GSM8K's part before `####`
ends in the newline written here explicitly.) The paper's CoT targets are teacher outputs; here
they are the gold rationale where a dataset has one, else the answer-only target.

BBH (docs/method.md section 5.3, `test_bbh.py`): CoT input = the 3-shot CoT prompt + `"\\n\\nQ: "` +
input + `"\\nA: Let's think step by step.\\n"`. Answer-only input = the task description and the same
three exemplars as `"Q: " + q + "\\nA: the answer is " + a + "."`, then `"\\n\\nQ: "` + input +
`"\\nA: the answer is "`, the same suffix as Fu et al. (whose `modify_prompt` turned only the first
exemplar into answer-only and left the second's reasoning cut mid-sentence; all three are
answer-only here). Targets are the gold answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from distill.contracts.format_ids import MATH_FORMATS
from distill.data.loaders import BBHPrompt
from distill.data.normalize import CALCULATOR_NOTE

BBH_FORMATS = ("cot", "ao")

ANSWER_PREFIX = "The answer is "
COT_TRIGGER = "Let's think step by step"


@dataclass(frozen=True)
class Demo:
    """An in-context demonstration: question, worked rationale (no final answer line), answer text."""

    question: str
    rationale: str
    answer_text: str


def strip_calculator_notes(text: str) -> str:
    """GSM8K's `<<48/2=24>>` annotations removed, with Fu et al.'s regex."""
    return CALCULATOR_NOTE.sub("", text)


def ao_demo(demo: Demo) -> str:
    return f"Q: {demo.question}\nA: {ANSWER_PREFIX}{demo.answer_text}\n\n"


def cot_demo(demo: Demo) -> str:
    rationale = strip_calculator_notes(demo.rationale)
    return f"Q: {demo.question}\n{COT_TRIGGER}\n{rationale}\n{ANSWER_PREFIX}{demo.answer_text}\n\n"


def is_in_context(fmt: str) -> bool:
    return fmt.startswith("ic_")


def math_input(fmt: str, question: str, demos: Sequence[Demo] = ()) -> str:
    """The encoder input of a math problem in format `fmt` (demos only for ic_* formats)."""
    if fmt == "zs_ao":
        return f"Q: {question} A:"
    if fmt == "zs_cot":
        return f"Q: {question}\n{COT_TRIGGER}"
    if fmt == "ic_ao":
        return "".join(ao_demo(d) for d in demos) + f"Q: {question}\nA:"
    if fmt == "ic_cot":
        return "".join(cot_demo(d) for d in demos) + f"Q: {question}\n{COT_TRIGGER}"
    raise ValueError(f"Unknown format {fmt!r}; expected one of {MATH_FORMATS}")


def math_target(fmt: str, answer_text: str, rationale: str | None = None) -> str:
    """The decoder target: "The answer is N", after the rationale for CoT formats when there is one."""
    if fmt not in MATH_FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; expected one of {MATH_FORMATS}")
    if fmt.endswith("_cot") and rationale is not None:
        return f"{strip_calculator_notes(rationale)}\n{ANSWER_PREFIX}{answer_text}"
    return f"{ANSWER_PREFIX}{answer_text}"


def bbh_ao_prompt(prompt: BBHPrompt) -> str:
    """The task description and the CoT prompt's exemplars rewritten as answer-only."""
    shots = "".join(f"\n\nQ: {e.question}\nA: the answer is {e.answer}." for e in prompt.exemplars)
    return prompt.description + shots


def bbh_input(fmt: str, prompt: BBHPrompt, text: str) -> str:
    """The encoder input of a BBH example in format `cot` or `ao`."""
    if fmt == "cot":
        return f"{prompt.text}\n\nQ: {text}\nA: {COT_TRIGGER}.\n"
    if fmt == "ao":
        return f"{bbh_ao_prompt(prompt)}\n\nQ: {text}\nA: the answer is "
    raise ValueError(f"Unknown BBH format {fmt!r}; expected one of {BBH_FORMATS}")
