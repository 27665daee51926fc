"""The data files no repository commits as such, rebuilt from one that is: Wei et al.'s 8 GSM8K exemplars.

Why: `prompts/wei2022_gsm8k_8shot_cot.{jsonl,txt}` were derived once (the shared data's MANIFEST.md)
from Chain-of-Thought Hub's `prompt_original.txt` (Wei et al. 2022, Table 20): one block per
exemplar, rationale lines joined by single spaces, the PDF artefact `tues- day` mended. Rebuilding
them the same way lets `python -m distill.data download` produce every file of the data directory
from public sources; their recorded sha256 checks each rebuild byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

WEI2022_SOURCE = "prompts/chain-of-thought-hub_gsm8k/prompt_original.txt"
_ANSWER = re.compile(r"The answer is (.+)\.")


def wei2022_exemplars(text: str, path: str = WEI2022_SOURCE) -> list[dict[str, str]]:
    """`{question, rationale, answer}` of each block: `Question: ...`, `Let's think step by step`, steps, the answer."""
    rows = []
    for number, block in enumerate((b for b in text.strip().split("\n\n") if b.strip()), 1):
        lines = [line.strip() for line in block.strip().split("\n")]
        answer = _ANSWER.fullmatch(lines[-1])
        if len(lines) < 4 or not lines[0].startswith("Question: ") or not answer:
            raise ValueError(f"{path}: block {number} is not 'Question: ...', steps, 'The answer is N.'")
        rationale = " ".join(lines[2:-1]).replace("tues- day", "tuesday")
        rows.append({"question": lines[0].removeprefix("Question: "), "rationale": rationale, "answer": answer[1]})
    return rows


def wei2022_jsonl(text: str) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in wei2022_exemplars(text)).encode()


def wei2022_txt(text: str) -> bytes:
    """The paper's format: `Q: {question}\\nA: {rationale} The answer is {answer}.`, blank-line separated."""
    rows = wei2022_exemplars(text)
    return "".join(f"Q: {r['question']}\nA: {r['rationale']} The answer is {r['answer']}.\n\n" for r in rows).encode()


# derived file -> (the data file it is rebuilt from, how: its text -> the derived file's bytes)
DERIVED: dict[str, tuple[str, Callable[[str], bytes]]] = {
    "prompts/wei2022_gsm8k_8shot_cot.jsonl": (WEI2022_SOURCE, wei2022_jsonl),
    "prompts/wei2022_gsm8k_8shot_cot.txt": (WEI2022_SOURCE, wei2022_txt),
}
