"""`python -m distill.quickstart`."""

import sys

from distill.quickstart.cli import main

sys.exit(main())
