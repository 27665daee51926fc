"""Greedy decoding throughput: the engine's cached decoder side by side with Hugging Face `generate`.

Why: evaluation decodes long chains of thought for thousands of questions, many times per run,
so decoding speed is what checkpoint selection costs. Both sides decode the same random inputs
with the same architecture (random init) for exactly `--new-tokens` tokens (EOS is disabled on
both, so every row runs to the end), in one process; the peer runs first and frees its memory.

tokens/s counts generated tokens (batch x new tokens) over the wall time of a whole decode
(encoder included), after a warm-up decode that also compiles the engine's loop.
`--server-logprobs K` adds a row for the server's decode program (`distill.serve.sampler`:
per-row settings, here all greedy, with the top K log-probs at every step), so what exact
log-probs cost shows beside plain greedy decoding. A row that fails (out of memory, say) is
recorded with its error and the others still run.

  python bench/decode.py --sizes micro,mini --batch 64 --inputs 512 --new-tokens 256   # CPU
  python bench/decode.py --sizes base,xl                                              # GPU
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import pathlib
import sys
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # The peer shares the device.
BENCH = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent)]  # Runs from a checkout, installed or not.

import hf_peer
import jax
import numpy as np
import train_step

from distill.engine import decoding, network
from distill.serve import sampler

DEFAULT_SIZES = {"cpu": "micro,mini", "gpu": "base,xl", "tpu": "base,xl"}


def engine_params(config: network.T5Config) -> Any:
    import flax.linen as nn

    tokens = np.ones((1, 8), np.int32)
    module = network.Transformer(config)
    # The key and tokens are arguments, not constants: XLA:GPU would otherwise try to constant-fold
    # the whole random initialisation at compile time (a base-size init did not compile in 90 s).
    init = jax.jit(lambda key, tokens: module.init(key, tokens, tokens, tokens))
    return module, nn.unbox(init(jax.random.PRNGKey(0), tokens))["params"]


def timed(run: Any, repeats: int) -> tuple[float, float, Any]:
    """(first call s, mean s of `repeats` more calls, the last output); `run` blocks until done."""
    start = time.perf_counter()
    run()
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        out = run()
    return first_s, (time.perf_counter() - start) / repeats, out


def bench_engine(config: network.T5Config, inputs: np.ndarray, new_tokens: int, repeats: int) -> dict[str, Any]:
    module, params = engine_params(config)
    p = decoding.DecodeParams(max_decode_length=new_tokens, eos_id=-1)  # -1: never stop early
    tokens = jax.device_put(inputs)
    run = lambda: jax.block_until_ready(decoding.decode(module, params, tokens, p))  # noqa: E731
    first_s, seconds, out = timed(run, repeats)
    assert out.tokens.shape[-1] == new_tokens and bool((out.lengths == new_tokens).all())
    return {"impl": "engine/greedy", "first_s": first_s, "decode_s": seconds}


def bench_server(
    config: network.T5Config, inputs: np.ndarray, new_tokens: int, repeats: int, logprobs: int
) -> dict[str, Any]:
    """The server's decode program on the same inputs: greedy rows with the top `logprobs` log-probs."""
    module, params = engine_params(config)
    count = inputs.shape[0]
    rows = sampler.RowBatch(
        encoder_tokens=inputs,
        temperature=np.zeros(count, np.float32),
        top_p=np.ones(count, np.float32),
        max_tokens=np.full(count, new_tokens, np.int32),
        seeds=np.zeros((count, 2), np.int32),
    )
    run = lambda: sampler.run(module, params, rows, length=new_tokens, top_k=logprobs, eos_id=-1)  # noqa: E731
    first_s, seconds, out = timed(run, repeats)
    assert out.top_log_probs.shape == (count, new_tokens, logprobs) and bool((out.tokens[:, -1] > 0).all())
    return {"impl": f"engine/server-top{logprobs}", "first_s": first_s, "decode_s": seconds}


def bench_hf(config: network.T5Config, inputs: np.ndarray, new_tokens: int, repeats: int, bf16: bool) -> dict[str, Any]:
    import torch
    from transformers import T5ForConditionalGeneration

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with device:
        model = T5ForConditionalGeneration(hf_peer.hf_config(config, 0.0))
        hf_peer.untie_logits(model)
    model = model.to(torch.bfloat16 if bf16 else torch.float32).eval()
    ids = torch.as_tensor(inputs, device=device)
    kwargs = {
        "input_ids": ids,
        "attention_mask": ids > 0,
        "max_new_tokens": new_tokens,
        "min_new_tokens": new_tokens,
        "do_sample": False,
        "num_beams": 1,
    }

    def run() -> Any:
        with torch.inference_mode():
            out = model.generate(**kwargs)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out

    first_s, seconds, out = timed(run, repeats)
    assert out.shape[1] == new_tokens + 1  # generate returns the start token too
    return {"impl": "hf/generate", "first_s": first_s, "decode_s": seconds, "torch_version": torch.__version__}


def release_torch_memory() -> None:
    """Frees the peer's device memory before the engine runs."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated sizes (gin/models/<family>/<size>.gin)")
    parser.add_argument("--family", default="t5_1_1")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=512, help="input length (every position a real token)")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2, help="timed decodes after the warm-up one")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), help="default bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--peer", choices=("auto", "hf", "none"), default="auto")
    parser.add_argument("--server-logprobs", type=int, default=0, help="K > 0: also time the server's program")
    parser.add_argument("--json", default="out/bench/decode.json")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = jax.devices()[0]
    dtype = args.dtype or ("float32" if device.platform == "cpu" else "bfloat16")
    sizes = [s for s in (args.sizes or DEFAULT_SIZES.get(device.platform, "base")).split(",") if s]
    use_peer = args.peer == "hf" or (args.peer == "auto" and hf_peer.available())
    print(
        f"device: {device.device_kind} ({device.platform}), jax {jax.__version__} | batch {args.batch}, "
        f"{args.inputs} input tokens, {args.new_tokens} new tokens, {dtype}, peer: {'hf' if use_peer else 'none'}",
        flush=True,
    )
    report: dict[str, Any] = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "device": {"platform": device.platform, "device_kind": device.device_kind, "jax_version": jax.__version__},
        "settings": vars(args) | {"dtype": dtype, "sizes": sizes},
        "results": [],
    }
    out_path = pathlib.Path(args.json)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    runs = [(s, "hf") for s in sizes if use_peer] + [(s, "engine") for s in sizes]
    runs += [(s, "server") for s in sizes if args.server_logprobs > 0]
    for size, impl in runs:
        config = train_step.model_config(args.family, size, dtype=dtype, dropout_rate=0.0)
        rng = np.random.default_rng(0)
        inputs = rng.integers(2, config.vocab_size, (args.batch, args.inputs), dtype=np.int32)
        try:
            if impl == "hf":
                result = bench_hf(config, inputs, args.new_tokens, args.repeats, dtype == "bfloat16")
            elif impl == "server":
                result = bench_server(config, inputs, args.new_tokens, args.repeats, args.server_logprobs)
            else:
                result = bench_engine(config, inputs, args.new_tokens, args.repeats)
        except Exception as error:  # One failed row (out of memory, say) must not cost the others.
            report["results"].append({"impl": impl, "size": size, "error": f"{type(error).__name__}: {error}"[:2000]})
            out_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
            print(f"  {size} {impl}: FAILED {type(error).__name__}: {str(error)[:300]}", flush=True)
            continue
        finally:  # The model goes with the bench function's frame; free it before the next row.
            gc.collect()
            if impl == "hf":
                release_torch_memory()
        result |= {"size": size, "tokens_per_s": args.batch * args.new_tokens / result["decode_s"]}
        report["results"].append(result)
        out_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(
            f"  {size} {impl}: {result['decode_s']:.2f} s per decode, {result['tokens_per_s']:.0f} tokens/s", flush=True
        )
    measured = [r for r in report["results"] if "error" not in r]
    peer = {r["size"]: r["tokens_per_s"] for r in measured if r["impl"] == "hf/generate"}
    print(f"{'size':<8}{'impl':<22}{'first s':>9}{'decode s':>10}{'tokens/s':>11}{'vs peer':>9}")
    for r in measured:
        ratio = f"{r['tokens_per_s'] / peer[r['size']]:.2f}x" if r["size"] in peer else "n/a"
        print(
            f"{r['size']:<8}{r['impl']:<22}{r['first_s']:>9.1f}{r['decode_s']:>10.2f}{r['tokens_per_s']:>11.0f}{ratio:>9}"
        )
    report["speedup_vs_peer"] = {
        r["size"]: r["tokens_per_s"] / peer[r["size"]]
        for r in measured
        if r["impl"] == "engine/greedy" and r["size"] in peer
    }
    out_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out_path}")
    return report


if __name__ == "__main__":
    main()
