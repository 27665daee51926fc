"""Checkpoint conversion between Hugging Face T5 / FlanT5 and T5X (`python -m distill.convert`, see `cli`)."""
