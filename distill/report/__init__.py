"""The parts behind `python -m distill.report`: reading evaluation outputs (`readers`), the selection
rule (`selection`), one run's summary (`runs`), self-consistency scoring (`consistency`), figures
(`plots`) and Markdown (`markdown`). The on-disk layout is documented in `distill/report/cli.py`."""
