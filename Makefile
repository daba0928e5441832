# The README's two commands: `make demo` and `make test`. Both set up their own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint typecheck unit clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# the demo needs only the package (the test extra adds the lab's NetfilterQueue, which
# builds from source against libnetfilter-queue-dev: .ci/run installs it)
# setup.py builds the optional C module (HMAC-MD5 over OpenSSL): a changed source rebuilds it
BUILD_INPUTS := pyproject.toml setup.py src/mip4/wire/_accel.c

$(DEMO_STAMP): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(DEMO_STAMP)

$(STAMP): $(BUILD_INPUTS) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP)

venv: $(STAMP)

# every available handoff method on the corridor (PRE-, POST-REGISTRATION and combined also
# with smooth handoff, as "METHOD (smooth)"): a table, and out/demo/report.html
demo: $(DEMO_STAMP)
	$(BIN)/mip4 compare corridor --out out/demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/pytest -n auto -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) out .mypy_cache .pytest_cache .ruff_cache .hypothesis
