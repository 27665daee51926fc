"""The peer in `train_step.py`: Hugging Face transformers' T5ForConditionalGeneration.

This is the code path of the paper's own release: PyTorch eager, bf16 autocast over float32
weights, AdamW. The model is built from the same `T5Config` as the engine's (T5 v1.1: gated
GELU, untied logits, 32 relative-position buckets up to distance 128), randomly initialised.
torch and transformers are imported only when the peer runs.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from distill.convert import names
from distill.engine import network


def hf_config(config: network.T5Config, dropout_rate: float) -> Any:
    """transformers' T5Config of this engine config (`distill.convert.names.hf_config`), at `dropout_rate`."""
    from transformers import T5Config

    return T5Config(**{**names.hf_config(config), "dropout_rate": dropout_rate})


def untie_logits(model: Any) -> None:
    """Gives the model its own `lm_head` as T5 v1.1 has.

    transformers 5 always ties `lm_head` to the input embedding (it keeps
    `tie_word_embeddings=False` only as "do not rescale the decoder output"), which would give
    the peer one vocab-sized matrix fewer to update than T5 v1.1 (and the engine) has.
    """
    import torch

    if model.lm_head.weight.data_ptr() == model.shared.weight.data_ptr():
        model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())
        model.config.tie_word_embeddings = False


def available() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def bench_hf(
    config: network.T5Config, batch: Mapping[str, np.ndarray], dropout_rate: float, bf16: bool, warmup: int, steps: int
) -> dict[str, Any]:
    """Times `steps` AdamW train steps (after `warmup`) of the transformers model on the first device."""
    import torch

    result = _time_steps(config, batch, dropout_rate, bf16, warmup, steps)
    gc.collect()  # Free the model and optimizer before the engine runs on the same device.
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def _time_steps(
    config: network.T5Config, batch: Mapping[str, np.ndarray], dropout_rate: float, bf16: bool, warmup: int, steps: int
) -> dict[str, Any]:
    import torch
    from transformers import T5ForConditionalGeneration

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    start = time.perf_counter()
    with device:
        model = T5ForConditionalGeneration(hf_config(config, dropout_rate))
        untie_logits(model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")
    init_s = time.perf_counter() - start
    tensors = {k: torch.as_tensor(v, dtype=torch.long, device=device) for k, v in batch.items()}
    inputs = {
        "input_ids": tensors["encoder_input_tokens"],
        "attention_mask": tensors["encoder_input_tokens"] > 0,
        "decoder_input_ids": tensors["decoder_input_tokens"],
        "labels": tensors["decoder_target_tokens"],
    }
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> torch.Tensor:
        with autocast:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    first_step_start = time.perf_counter()
    losses = [step()]
    sync()
    first_step_s = time.perf_counter() - first_step_start
    for _ in range(max(warmup - 1, 0)):
        losses.append(step())
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        losses.append(step())
    sync()
    step_s = (time.perf_counter() - start) / steps
    return {
        "params": int(sum(p.numel() for p in model.parameters())),
        "first_step_s": first_step_s,
        "init_s": init_s,
        "step_s": step_s,
        "peak_memory_bytes": int(torch.cuda.max_memory_allocated()) if device.type == "cuda" else None,
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
        "torch_version": torch.__version__,
    }
