"""`python -m distill.serve`."""

from distill.serve.cli import main

main()
