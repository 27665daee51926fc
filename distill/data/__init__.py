"""The benchmark datasets without seqio or tensorflow.

Data files and their checksums, loaders, splits, prompt formats, normalization, answer
extraction and synthetic word problems: the logic that `tasks` (SeqIO), `distill.generate`,
`distill.build` and `distill.report` share.
"""
