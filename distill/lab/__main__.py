"""`python -m distill.lab`."""

import sys

from distill.lab.cli import main

sys.exit(main())
