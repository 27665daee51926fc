"""The data formats and the per-token format id that carries each packed example's format to the loss.

Fu et al. train on single-format micro-batches and average the loss over each, so a format's share
of the gradient follows its micro-batch count, not its token count. Packed rows mix formats, so the
loss can only give each format its share if it knows, per target token, which format the token
came from: the task tags every target token with its format's code (`FORMAT_IDS`), the feature
converter packs it like `targets` and emits it as `DECODER_FORMAT_IDS`, and the engine's
`losses.FormatShareWeighting` reads it.

Codes are 1 + the format's index in `MATH_FORMATS`; 0 is padding (and any token without a format),
so seqio's packer, which takes the count of non-zero entries as a feature's length, sees the same
length as for `targets`.
"""

from __future__ import annotations

MATH_FORMATS = ("zs_ao", "zs_cot", "ic_ao", "ic_cot")
FORMAT_IDS = "format_ids"
DECODER_FORMAT_IDS = "decoder_format_ids"
NO_FORMAT = 0


def format_code(fmt: str) -> int:
    """The code a target token of format `fmt` carries."""
    if fmt not in MATH_FORMATS:
        raise ValueError(f"Unknown format {fmt!r}; expected one of {MATH_FORMATS}")
    return MATH_FORMATS.index(fmt) + 1
