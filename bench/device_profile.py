"""Where a train step's device time goes: a `jax.profiler` trace read back into a small table.

Why: a GPU session is short, and the question after "how fast" is "where does the time go"
(matmuls, attention, elementwise fusions, idle gaps between kernels). `jax.profiler.ProfileData`
reads the XPlane trace in plain Python, so this needs neither TensorBoard nor xprof; the trace
file itself is kept for them.

The summary uses the device plane's "XLA Ops" line (one event per executed HLO instruction,
with its `hlo_category` and HLO text as stats). `busy_ms_per_step` is the sum of those events'
durations per step; set beside the measured step time, the difference is time the device sat
idle (kernel-launch gaps, host synchronisation, e.g. per scan iteration). A trace without a
device plane (the CPU backend) gives an empty summary.
"""

from __future__ import annotations

import collections
import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import jax

State = TypeVar("State")

OPS_LINE = "XLA Ops"


def trace(
    step: Callable[[State], State], state: State, steps: int, out_dir: pathlib.Path, top: int = 20
) -> tuple[State, dict[str, Any]]:
    """Runs `steps` blocking calls of `step` under the profiler; returns the state and the summary.

    The profile is a diagnostic beside measured figures: a profiler that cannot start (no CUPTI)
    or a trace that does not parse gives a note instead of an error, so the figures survive.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        jax.profiler.start_trace(str(out_dir))
    except Exception as e:  # Any profiler failure only loses the profile.
        return state, {"trace": None, "note": f"profiler did not start: {type(e).__name__}: {e}"}
    try:
        for _ in range(steps):
            state = step(state)
    finally:
        jax.profiler.stop_trace()
    files = sorted(out_dir.glob("**/*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not files:
        return state, {"trace": None, "note": "jax.profiler wrote no trace"}
    try:
        summary = summarize(files[-1], steps, top)
    except Exception as e:  # An unreadable trace only loses the summary.
        summary = {"note": f"trace not summarised: {type(e).__name__}: {e}"}
    return state, {"trace": str(files[-1]), **summary}


def device_ops_line(plane_name: str, line_name: str) -> bool:
    """The accelerator's per-instruction line (not the host's, which CPU runs have instead)."""
    return plane_name.startswith("/device:") and not plane_name.startswith("/device:CPU") and line_name == OPS_LINE


def summarize(
    path: pathlib.Path,
    steps: int,
    top: int = 20,
    line_filter: Callable[[str, str], bool] = device_ops_line,
) -> dict[str, Any]:
    """Time per step by HLO category and the `top` instructions, over the trace lines selected."""
    data = jax.profiler.ProfileData.from_file(str(path))
    lines = [line for plane in data.planes for line in plane.lines if line_filter(plane.name, line.name)]
    if not lines:
        return {"note": "no device 'XLA Ops' line in the trace (CPU backend?)"}
    by_op: dict[str, list] = {}
    categories: collections.Counter[str] = collections.Counter()
    for line in lines:
        for event in line.events:
            stats = _stats(event)
            category = str(stats.get("hlo_category", "unknown"))
            entry = by_op.setdefault(event.name, [0.0, 0, category, str(stats.get("long_name", ""))[:160]])
            entry[0] += event.duration_ns
            entry[1] += 1
            categories[category] += event.duration_ns
    busy = sum(categories.values())
    ranked = sorted(by_op.items(), key=lambda item: -item[1][0])[:top]
    return {
        "busy_ms_per_step": busy / steps / 1e6,
        "categories": [
            {"category": name, "ms_per_step": ns / steps / 1e6, "share": ns / busy}
            for name, ns in categories.most_common()
        ],
        "top_ops": [
            {
                "op": name,
                "category": category,
                "ms_per_step": ns / steps / 1e6,
                "share": ns / busy,
                "calls_per_step": count / steps,
                "hlo": detail,
            }
            for name, (ns, count, category, detail) in ranked
        ],
    }


def format_summary(summary: dict[str, Any], step_ms: float) -> str:
    """The summary as text: busy vs step time, categories, then the top instructions."""
    if "busy_ms_per_step" not in summary:
        return f"    profile: {summary.get('note', 'none')}"
    busy = summary["busy_ms_per_step"]
    out = [f"    device busy {busy:.1f} ms of the {step_ms:.1f} ms step ({busy / step_ms:.0%}); by HLO category:"]
    out += [f"      {c['ms_per_step']:9.2f} ms {c['share']:6.1%}  {c['category']}" for c in summary["categories"]]
    out.append("    top instructions (ms/step, share, calls/step, HLO):")
    out += [
        f"      {o['ms_per_step']:9.2f} ms {o['share']:6.1%} {o['calls_per_step']:6.1f}  {o['op']}: {o['hlo'][:110]}"
        for o in summary["top_ops"]
    ]
    return "\n".join(out)


def _stats(event: Any) -> dict[str, Any]:
    """An event's stats as a dict (name -> value); empty where the trace carries none."""
    try:
        return {str(name): value for name, value in event.stats}
    except (TypeError, ValueError):
        return {}
