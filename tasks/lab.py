"""The specialization lab's SeqIO tasks (registered on `import tasks`; nothing is read, all is generated).

* `{dataset}_{fmt}` for every lab dataset (`lab_problems.FORMS`: `lab_<phrasing>_<frame>`,
  `lab_words`, `lab_large`): the lab's +/- chains in the four math formats, with the math
  postprocessor and accuracy; `lab_problems.ID_DATASETS` are in distribution, `OOD_DATASETS` the
  forms never trained on, `lab_large` the range shift. Vocabulary: `vocabulary_kind()` as every
  math task (the lab's students are byte-level: `vocabulary_kind.kind = 'byte'`).
* `lab_general_{task}_{zs,ic}`: the general suite (`distill.data.general_suite`), exact match.

Mixtures: `lab_general` (every general task and format: stage 0's training data and the general
metric), `lab_math_cot` (every form, zero-shot and in-context CoT: the lab's evaluation),
`lab_id_cot` (the teacher's training data: gold chains of the in-distribution forms),
`lab_eval` (`lab_math_cot` and `lab_general`: what every stage-1 arm is evaluated on), and
`lab_ood_cot` (the forms never trained on, alone: what `make demo` evaluates).
"""

from __future__ import annotations

from distill.data import answers, general_suite, lab_problems
from tasks import registry

LAB_DATASETS = tuple(lab_problems.FORMS)
LAB_SPLITS = tuple(lab_problems.SPLIT_SIZES)
COT_FORMATS = ("zs_cot", "ic_cot")
# Stage 0 draws one-step arithmetic twice as often as each other general task: it is the skill the
# chains of thought reuse, and a tiny model needs many examples of it (each task still counts once
# in the general metric).
ARITHMETIC_RATE = 2.0


def _general_dataset_fn(task: str, fmt: str):
    def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None):
        del shuffle_files, seed
        return registry.tf_dataset(general_suite.examples(task, fmt, split))

    return dataset_fn


def general_task_names() -> list[str]:
    return [f"lab_general_{task}_{fmt}" for task, fmt in general_suite.task_formats()]


def register() -> None:
    """Registers the lab's tasks and mixtures (idempotent)."""
    math_postprocess = registry.denormalized(answers.math_postprocessor)
    for dataset in LAB_DATASETS:
        for fmt in registry.MATH_FORMATS:
            fn = registry.math_dataset_fn(dataset, fmt)
            registry.add_task(f"{dataset}_{fmt}", fn, LAB_SPLITS, math_postprocess, answers.math_accuracy)
    for task, fmt in general_suite.task_formats():
        fn = _general_dataset_fn(task, fmt)
        registry.add_task(
            f"lab_general_{task}_{fmt}", fn, tuple(general_suite.SPLIT_SIZES), None, general_suite.exact_match
        )
    rates = [
        (f"lab_general_{task}_{fmt}", ARITHMETIC_RATE if task in ("add", "sub") else 1.0)
        for task, fmt in general_suite.task_formats()
    ]
    registry.add_mixture("lab_general", rates)
    registry.add_mixture("lab_math_cot", [f"{d}_{fmt}" for d in LAB_DATASETS for fmt in COT_FORMATS])
    registry.add_mixture("lab_id_cot", [f"{d}_{fmt}" for d in lab_problems.ID_DATASETS for fmt in COT_FORMATS])
    registry.add_mixture("lab_eval", ["lab_math_cot", "lab_general"])
    registry.add_mixture("lab_ood_cot", [f"{d}_{fmt}" for d in lab_problems.OOD_DATASETS for fmt in COT_FORMATS])
