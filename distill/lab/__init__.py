"""`python -m distill.lab`: the specialization lab (a general student, a real teacher, the paper's arms)."""
