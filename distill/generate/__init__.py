"""Teacher chain-of-thought generation (`python -m distill.generate`), one module per job.

`questions` (what to ask and how to grade it), `prompts` (the few-shot prompt and the paper's
cut), `client` (HTTP, retries, caps), `responses` (both OpenAI API shapes into token lists),
`samples` (an API choice into a teacher record), `store` (the resumable JSONL output),
`summary` (accuracy, coverage, tokens, cost), `progress` (the console line), `run` (scheduling).
"""
