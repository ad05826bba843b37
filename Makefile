# Everything a person runs. `make run` and `make test` set up .venv by themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JOBS   ?= 2
STAMP  := $(VENV)/.installed

.PHONY: install run test test-fast chaos lint format openapi bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.12 for example)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## run: API and Calypso sandbox together in development mode
run: $(STAMP)
	$(BIN)/bridge dev

## test: lint, type-check, then the whole suite (real Redis and the Redis Cluster, sandbox
## over sockets, fuzzing, fault runs): $(JOBS) pytest-xdist workers, then the serial tests
## alone; under 5 minutes on 2 cores
test: lint
	$(BIN)/pytest -n $(JOBS) -m "not serial"
	$(BIN)/pytest -m serial

## test-fast: what a developer runs between edits: no cluster, chaos or slow tests
test-fast: $(STAMP)
	$(BIN)/pytest -n $(JOBS) -m "not cluster and not chaos and not slow"

## chaos: only the fault runs (Redis killed or away, upstream flapping, SIGKILLs, 3x3 replicas)
chaos: $(STAMP)
	$(BIN)/pytest -m chaos

lint: $(STAMP)
	$(BIN)/ruff check bridge tests
	$(BIN)/ruff format --check bridge tests
	$(BIN)/mypy --strict bridge

format: $(STAMP)
	$(BIN)/ruff format bridge tests
	$(BIN)/ruff check --fix bridge tests

## openapi: regenerate openapi-out/openapi.json
openapi: $(STAMP)
	$(BIN)/bridge openapi

## bench: performance figures against same-run baselines (tests/perf; table + build/bench.json)
bench: $(STAMP)
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
