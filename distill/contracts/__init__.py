"""The file contracts between stages; a leaf that imports nothing else of the project.

Teacher records (JSONL written by `distill.generate`), distillation examples (TFRecords written
by `distill.build`, read by the SeqIO tasks), the teacher-feature names both sides use, and the
OpenAI token-bytes codec.
"""
