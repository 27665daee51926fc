"""`python -m distill.report`."""

import sys

from distill.report.cli import main

sys.exit(main())
