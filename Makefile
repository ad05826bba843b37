# Everything a person runs. `make run` and `make test` set up .venv by themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JOBS   ?= 2
STAMP  := $(VENV)/.installed

# .venv holds exactly what uv.lock lists: the bridge (editable) and the `dev` dependency group.
# uv itself comes from PyPI through pip, at this release, into .venv (a sync never removes uv
# itself); the Dockerfile installs the same release.
UV_VERSION := 0.13.8
UV         := $(BIN)/uv
UV_STAMP   := $(VENV)/.uv-$(UV_VERSION)
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS    := never

.PHONY: install lock run test test-fast chaos lint format openapi bench clean

$(UV_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=python3.12 for example)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@rm -f $(VENV)/.uv-* && touch $@

# --locked: a uv.lock that no longer matches pyproject.toml stops the install (run `make lock`).
$(STAMP): $(UV_STAMP) pyproject.toml uv.lock
	$(UV) sync --locked --quiet
	@touch $@

install: $(STAMP)

## lock: resolve uv.lock again after a change to the dependencies in pyproject.toml
lock: $(UV_STAMP)
	$(UV) lock

## run: API and Calypso sandbox together in development mode
run: $(STAMP)
	$(BIN)/bridge dev

## test: lint, type-check, then the whole suite (real Redis and the Redis Cluster, sandbox
## over sockets, fuzzing, fault runs): the suite on $(JOBS) pytest-xdist workers beside the
## schemathesis run (its items share one node id, which xdist cannot hand out), then the
## tests that measure time, alone; under 5 minutes on 2 cores
test: lint
	$(MAKE) --no-print-directory -j2 --output-sync=target test-suite test-fuzz
	$(BIN)/pytest -m serial --ignore=tests/fuzz

.PHONY: test-suite test-fuzz
test-suite: $(STAMP)
	$(BIN)/pytest -n $(JOBS) -m "not serial" --ignore=tests/fuzz

test-fuzz: $(STAMP)
	$(BIN)/pytest tests/fuzz

## test-fast: what a developer runs between edits: no cluster, chaos or slow tests
test-fast: $(STAMP)
	$(BIN)/pytest -n $(JOBS) -m "not cluster and not chaos and not slow"

## chaos: only the fault runs (Redis killed or away, upstream flapping, SIGKILLs, 3x3 replicas)
chaos: $(STAMP)
	$(BIN)/pytest -m chaos

lint: $(STAMP)
	$(BIN)/ruff check bridge tests examples
	$(BIN)/ruff format --check bridge tests examples
	$(BIN)/mypy --strict bridge tests examples

format: $(STAMP)
	$(BIN)/ruff format bridge tests examples
	$(BIN)/ruff check --fix bridge tests examples

## openapi: regenerate openapi-out/openapi.json
openapi: $(STAMP)
	$(BIN)/bridge openapi

## bench: performance figures against same-run baselines (tests/perf; table + build/bench.json)
bench: $(STAMP)
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
