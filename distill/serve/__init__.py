"""OpenAI-compatible serving of encoder-decoder checkpoints (see `distill.serve`)."""
