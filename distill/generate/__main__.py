"""`python -m distill.generate`."""

import sys

from distill.generate.cli import main

sys.exit(3 if main()["run"]["missing"] else 0)  # 3: incomplete (a cap, a signal or failed requests)
