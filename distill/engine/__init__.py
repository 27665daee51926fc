"""The T5X-compatible engine: network, model and losses, partitioning, trainer, checkpoints.

Nothing in this package imports tensorflow or seqio at module level, so the engine runs (and
is benchmarked) on machines that have neither.
"""
