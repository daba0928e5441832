# The README's two commands: `make demo` and `make test`. Both set up their own venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	mkdir -p out/demo
	$(BIN)/mip4 decode --write-sample out/demo/sample.pcap
	$(BIN)/mip4 decode --pcap out/demo/sample.pcap --table
	$(BIN)/mip4 decode --pcap out/demo/sample.pcap > out/demo/sample.jsonl

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
