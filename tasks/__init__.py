"""SeqIO task and mixture registration: importing `tasks` registers every task."""

from tasks import synthetic  # noqa: F401
