"""Distillation tasks from a records directory (`distill.build --out DIR`): one seqio Task per format and a mixture.

`register_distillation(records_dir)` is gin-callable, so a run config turns the user's own
records directory into tasks when the run starts (`gin/runs/distill.gin`:
`MIXTURE_OR_TASK_NAME = @distillation.register_distillation()`); it returns the mixture name.
Nothing is registered on import: the directory is only known at run time.

For `name="distill"` and a directory with formats zs_ao, zs_cot, ic_ao, ic_cot it registers the
tasks `distill_zs_ao`, ..., `distill_ic_cot` (split `train`) and the mixture `distill`. Each task
yields `inputs`, `targets` (EOS appended) and the teacher's `teacher_topk_ids` /
`teacher_topk_logprobs` ([len(targets), K], aligned with `targets`; see `tasks.teacher_features`),
and `format_ids` ([len(targets)], the format's code on every target token; see
`distill.contracts.format_ids`), so a packed row still tells the loss which tokens are of which format.
Train with `teacher_features.DistillationFeatureConverter` so the teacher rows and format ids reach the model.

Mixture rates: by default each format's example count (`seqio.mixing_rate_num_examples` over the
manifest's counts), which is Fu et al.'s "every instance once per epoch": each example has the
same chance to be drawn, so the CoT formats (one example per teacher sample) dominate the
answer-only ones (one per question). `weights={format: weight}` sets the rates instead.

Calling it again replaces the tasks and mixture of the same name (a re-parsed config or another
directory); a name that clashes with a task registered elsewhere is refused.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence

import gin
import seqio
import tensorflow as tf

from distill.contracts import distill_examples
from distill.contracts.format_ids import FORMAT_IDS, format_code
from tasks import teacher_features
from tasks.vocabulary import T5_EXTRA_IDS, T5Vocabulary

log = logging.getLogger(__name__)

SPLIT = "train"
_OWNED: set[str] = set()  # Task and mixture names registered here (safe to replace).


def _vocabulary(records_dir: str, manifest: Mapping) -> seqio.Vocabulary:
    """The manifest's student vocabulary: bytes, or a SentencePiece model (path relative to the records dir).

    A SentencePiece student gets T5's 100 sentinels, as T5X's vocabularies have them.
    """
    if manifest["vocabulary"] == distill_examples.BYTE_VOCABULARY:
        return seqio.ByteVocabulary()
    path = os.path.join(records_dir, manifest["vocabulary"])
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{os.path.join(records_dir, distill_examples.MANIFEST)}: field 'vocabulary': no file {path}"
        )
    return T5Vocabulary(path, T5_EXTRA_IDS)


def _output_features(vocab: seqio.Vocabulary) -> dict[str, seqio.Feature]:
    text = {name: seqio.Feature(vocab, add_eos=True) for name in ("inputs", "targets")}
    return {**text, **teacher_features.TEACHER_OUTPUT_FEATURES, FORMAT_IDS: teacher_features.FORMAT_ID_FEATURE}


@seqio.map_over_dataset
def tag_format(features: dict[str, tf.Tensor], code: int) -> dict[str, tf.Tensor]:
    """Every (final, EOS included) target token gets the task's format code."""
    return {**features, FORMAT_IDS: tf.fill(tf.shape(features["targets"]), tf.constant(code, tf.int32))}


def _claim(task_names: Sequence[str], mixture_name: str) -> None:
    """Frees the names for (re-)registration; refuses, before changing anything, names registered elsewhere."""
    taken = [name for name in task_names if name in seqio.TaskRegistry.names()]
    taken += [mixture_name] if mixture_name in seqio.MixtureRegistry.names() else []
    clashes = [name for name in taken if name not in _OWNED]
    if clashes:
        raise ValueError(f"{clashes} already registered as seqio tasks or mixtures; pick another distillation name.")
    for name in task_names:
        if name in seqio.TaskRegistry.names():
            seqio.TaskRegistry.remove(name)
    if mixture_name in seqio.MixtureRegistry.names():
        seqio.MixtureRegistry.remove(mixture_name)
    _OWNED.update([*task_names, mixture_name])


def _register_replay(
    replay: str, name: str, fraction: float, code: int, total: float, top_k: int, features: Mapping[str, seqio.Feature]
) -> list[tuple[str, float]]:
    """Registers `{name}_replay_{task}` for each task of `replay`; returns their mixture rates.

    The rates give the replay `fraction` of the mixture against the records' total rate `total`.
    """
    provider = seqio.get_mixture_or_task(replay)
    subtasks = provider.tasks if isinstance(provider, seqio.Mixture) else [provider]
    names = [f"{name}_replay_{task.name}" for task in subtasks]
    _claim(names, name)
    for task, task_name in zip(subtasks, names, strict=True):
        seqio.TaskRegistry.add(
            task_name,
            source=task.source,
            preprocessors=[
                *task.preprocessors,
                functools.partial(teacher_features.no_teacher_mass, top_k=top_k),
                functools.partial(tag_format, code=code),
            ],
            output_features=features,
            metric_fns=[],
        )
    each = total * fraction / (1.0 - fraction) / len(names)
    return [(task_name, each) for task_name in names]


def _selected_formats(manifest: Mapping, formats: Sequence[str] | None, where: str) -> list[str]:
    available = manifest["formats"]
    if formats is None:
        chosen = sorted(fmt for fmt, entry in available.items() if entry.get("examples", 0) > 0)
        for fmt in sorted(set(available) - set(chosen)):
            log.warning("%s: format %s has no examples; it is left out of the mixture", where, fmt)
        return chosen
    missing = [fmt for fmt in formats if available.get(fmt, {}).get("examples", 0) <= 0]
    if missing:
        raise ValueError(f"{where}: field 'formats' has no examples for {missing} (has {sorted(available)})")
    return list(formats)


@gin.configurable
def register_distillation(
    records_dir: str = gin.REQUIRED,
    name: str = "distill",
    formats: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    vocabulary: seqio.Vocabulary | None = None,
    replay: str | None = None,
    replay_fraction: float = 0.1,
    replay_format: str = "zs_ao",
) -> str:
    """Registers `{name}_{format}` tasks and the `{name}` mixture from `records_dir`; returns `name`.

    Args:
      records_dir: a finished `distill.build` output (with `manifest.json`).
      name: prefix of the task names and name of the mixture.
      formats: formats to use (default: every format of the manifest that has examples).
      weights: {format: mixing rate}; default: rates by example count.
      vocabulary: the student vocabulary (default: the manifest's SentencePiece model).
      replay: a registered task or mixture (inputs and targets in the student's vocabulary) mixed
        in beside the records, e.g. the general tasks a specialized model should keep: each of its
        tasks becomes `{name}_replay_{task}` with no-mass teacher rows (trained by NLL).
      replay_fraction: the replay's share of the examples drawn (split evenly over its tasks).
      replay_format: the format code its tokens carry, so `FormatShareWeighting` counts them with
        that format (default zs_ao: a general task's target is an answer).
    """
    if replay is not None and not 0.0 < replay_fraction < 1.0:
        raise ValueError(f"replay_fraction must be in (0, 1), got {replay_fraction}")
    records_dir = os.path.abspath(records_dir)
    manifest = distill_examples.read_manifest(records_dir)
    where = os.path.join(records_dir, distill_examples.MANIFEST)
    chosen = _selected_formats(manifest, formats, where)
    if weights is not None and set(weights) != set(chosen):
        raise ValueError(f"weights {dict(weights)} must name exactly the formats {chosen} ({where})")
    top_k = int(manifest["top_k"])
    features = _output_features(vocabulary if vocabulary is not None else _vocabulary(records_dir, manifest))
    preprocessors = [
        functools.partial(teacher_features.parse_records, top_k=top_k),
        seqio.CacheDatasetPlaceholder(),
        seqio.preprocessors.append_eos_after_trim,
        teacher_features.align_teacher_to_targets,
    ]
    task_names = {fmt: f"{name}_{fmt}" for fmt in chosen}
    _claim(list(task_names.values()), name)
    for fmt, task_name in task_names.items():
        entry = manifest["formats"][fmt]
        seqio.TaskRegistry.add(
            task_name,
            source=seqio.TFExampleDataSource(
                {SPLIT: [os.path.join(records_dir, file) for file in entry["files"]]},
                feature_description=distill_examples.feature_description(),
                num_input_examples={SPLIT: int(entry["examples"])},
            ),
            preprocessors=[*preprocessors, functools.partial(tag_format, code=format_code(fmt))],
            output_features=features,
            metric_fns=[],
        )
    rate = seqio.mixing_rate_num_examples
    rates = [(task, rate if weights is None else weights[fmt]) for fmt, task in task_names.items()]
    if replay is not None:
        counts = [int(manifest["formats"][fmt]["examples"]) for fmt in chosen]
        total = sum(counts) if weights is None else sum(weights.values())
        rates += _register_replay(replay, name, replay_fraction, format_code(replay_format), total, top_k, features)
    seqio.MixtureRegistry.add(name, rates)
    log.info("Registered distillation mixture %r from %s: %s", name, records_dir, list(task_names.values()))
    return name
