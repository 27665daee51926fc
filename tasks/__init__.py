"""SeqIO task and mixture registration: importing `tasks` registers every task.

Nothing is read at import: data files are opened (and sha256-checked) only when a dataset is
built, so `import tasks` works without a data directory. See README, "Tasks".
"""

from tasks import registry, synthetic  # noqa: F401
from tasks.splits import gsm8k_validation_ids, gsm8k_validation_questions, gsm8k_validation_rows

__all__ = ["gsm8k_validation_ids", "gsm8k_validation_questions", "gsm8k_validation_rows"]

registry.register()
