"""python -m distill.build."""
