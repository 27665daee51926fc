"""`python -m distill.build`."""

import sys

from distill.build.cli import main

sys.exit(main())
