"""The stage-1 arms: what each changes, and its `train_t5x.py` run.

Every arm but `scratch` starts from the stage-0 checkpoint and trains on the same records; each
is evaluated every `eval_period` steps on `lab_eval` (ID and OOD chains, zero-shot and in-context
CoT, and the general suite). `baseline` is stage 0 evaluated as it is.
"""

from __future__ import annotations

import dataclasses

from distill.lab.runs import DISTILL, REPLAY, STUDENT, Run, quoted


@dataclasses.dataclass(frozen=True)
class Arm:
    name: str
    what: str
    formats: tuple[str, ...] | None = None  # None: all four
    dm_weight: float = 1.0
    from_stage0: bool = True
    gin_files: tuple[str, ...] = ()  # after distill.gin, e.g. the replay mixture


ARMS = (
    Arm("answer_only", "answer-only formats (zs_ao, ic_ao)", formats=("zs_ao", "ic_ao")),
    Arm("recipe", "the paper's recipe: four formats, distribution matching"),
    Arm("zero_shot", "zero-shot formats only (zs_ao, zs_cot)", formats=("zs_ao", "zs_cot")),
    Arm("sample_matching", "four formats, sample matching (DM_WEIGHT = 0)", dm_weight=0.0),
    Arm("replay", "the recipe plus 10% replay of the general suite", gin_files=(REPLAY,)),
    Arm("scratch", "the recipe from a random start (the T5-vs-FlanT5 start)", from_stage0=False),
)
BASELINE = "baseline"  # stage 0, not specialized


def run(
    arm: Arm, model_dir: str, records_dir: str, stage0_checkpoint: str, steps: int, eval_period: int, seed: int
) -> Run:
    bindings = {
        "MODEL_DIR": quoted(model_dir),
        "RECORDS_DIR": quoted(records_dir),
        "TRAIN_STEPS_RELATIVE": str(steps),
        "TRAIN_STEPS": str(steps),
        "EVAL_PERIOD": str(eval_period),
        "RANDOM_SEED": str(seed),
        "DM_WEIGHT": str(arm.dm_weight),
        "DISTILL_FORMATS": repr(arm.formats) if arm.formats else "None",
        "INITIAL_CHECKPOINT_PATH": quoted(stage0_checkpoint) if arm.from_stage0 else "None",
    }
    return Run(f"{arm.name}-seed{seed}", (STUDENT, DISTILL, *arm.gin_files), bindings)
