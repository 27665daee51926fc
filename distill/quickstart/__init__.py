"""python -m distill.quickstart."""
