"""SeqIO task and mixture registration: importing `tasks` registers every task and mixture.

Only the seqio-facing modules live here (registry, vocabulary, teacher features, distillation
tasks). The pure logic they build on (data files, loaders, splits, formats, normalization,
answers) lives in `distill.data`, which imports without seqio or tensorflow: a package's
`__init__` always runs before its submodules, so helpers inside `tasks/` could not be imported
without registering (and loading seqio).

Nothing is read at import: data files are opened (and sha256-checked) only when a dataset is
built, so `import tasks` works without a data directory.
"""

from tasks import arithmetic, lab, registry  # noqa: F401

registry.register()
lab.register()
