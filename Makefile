# `make demo` and `make test` set up .venv themselves (Python >= 3.11, network access to PyPI).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The data directory: $COT_DATA_DIR if set, else ../shared/data where it exists (this project's machines), else
# the user's cache (~/.cache/cot-specialize/data, which `make data` fills). `make demo` needs none.
ifneq ($(wildcard ../shared/data/.),)
export COT_DATA_DIR ?= $(abspath ../shared/data)
endif
export TF_CPP_MIN_LOG_LEVEL ?= 2
# Test processes (pytest-xdist). A file's tests share a worker, so module fixtures build once.
# On a 2-core machine two workers overlap one test's compile with another's run (18m41s -> 13m58s).
TEST_WORKERS ?= 2

.PHONY: demo quickstart data test test-fast lint bench clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,hf]'
	touch $(STAMP)

# The committed stage-0 general model specialized by the committed teacher through the real pipeline
# (serve -> generate -> build -> train -> evaluate -> report); its last line is the lift (docs/lab.md).
demo: $(STAMP)
	rm -rf out/demo
	$(PY) -m distill.lab --out out/demo --demo --artifacts artifacts/lab

# The whole pipeline at toy scale from a stand-in teacher (no committed models): docs/results.md.
quickstart: $(STAMP)
	rm -rf out/quickstart
	$(PY) -m distill.quickstart --out out/quickstart

# The data directory's files from their pinned public sources, verified (skips those present): docs/data-and-tasks.md.
data: $(STAMP)
	$(PY) -m distill.data download

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

# Everything but the end-to-end subprocess tests (marker `e2e`): a quick loop while editing. CI runs `make test`.
test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not e2e" tests

lint: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(STAMP)
	$(PY) bench/train_step.py

clean:
	rm -rf $(VENV) out
