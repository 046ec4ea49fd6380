# marsad — the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
# Separate installs: the demo needs marsad and its runtime dependencies only (no test
# tools, no Google Cloud libraries); tests and deploy work add the test and gcp extras.
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test test-hostile lint format bench clean lock metadata

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# An editable install leaves marsad's own modules uncompiled; where PYTHONDONTWRITEBYTECODE
# is set (as in many containers) every start would compile them again (0.5 s of CPU).
COMPILE := $(BIN)/python -m compileall -q marsad pipeline transforms schemas >/dev/null

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,gcp]'
	$(COMPILE)
	@touch $(STAMP)

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(COMPILE)
	@touch $(DEMO_STAMP)

# A free port is picked (and remembered in out/state/) when 8765 is taken.
demo: $(DEMO_STAMP)
	$(BIN)/marsad demo --output out
	$(BIN)/marsad report out --out out/report.html

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python -m pytest -q

# The slow part of the hostile-web suite (whole runs, kill -9, broken storage; minutes).
test-hostile: $(STAMP)
	MARSAD_HOSTILE_SLOW=1 $(BIN)/python -m pytest -q tests/hostile

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(COMPILE)
	$(BIN)/python benchmarks/run_all.py

# Regenerate the pinned image requirements and the Flex Template parameter files.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	PATH=$(CURDIR)/$(BIN):$$PATH deploy/lock.sh

metadata: $(STAMP)
	$(BIN)/python deploy/flex/gen_metadata.py

clean:
	rm -rf out .pytest_cache build *.egg-info
