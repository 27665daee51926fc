"""`python -m distill.data`."""

import sys

from distill.data.cli import main

sys.exit(main())
