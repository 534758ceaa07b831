# One command set for people, CI and hooks. `make serve`, `make test` and `make test-all` work on a fresh clone.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DATA_DIR ?= ../shared/data

.PHONY: venv serve test lint format typecheck check-deploy train-all evaluate bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,docs]'
	touch $@

serve: venv  ## serve the committed models on http://127.0.0.1:8000
	$(BIN)/tinyserve serve

.PHONY: test-browser
test-browser: venv  ## the playground in Debian's chromium (apt-get install chromium); screenshots in build/browser
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m browser tests/browser

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy

check-deploy: venv
	PATH=$(abspath $(BIN)):$$PATH bash scripts/check_deploy.sh

# The fast suite: no slow tests, no real servers over TCP, no browser, no containers (in random
# order, pytest-randomly; -p no:randomly for file order). test-all runs everything but the
# container check (make container-check); CI runs test-all, then the container check.
FAST_TESTS := -m "not slow and not server and not browser and not container"

test: venv lint typecheck  ## lint, types and the fast suite (a few minutes)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest $(FAST_TESTS)

.PHONY: test-all mutation-smoke
test-all: venv lint typecheck  ## lint, types and every test: slow, real servers, browser (CI runs this)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m "not container"

mutation-smoke: venv  ## plant representative bugs in a temp copy; the tests that cover each must fail
	$(BIN)/python scripts/mutation_smoke.py

train-all: venv  ## retrain every committed artifact (about an hour on 2 cores)
	TINYSERVE_DATA_DIR=$(DATA_DIR) PYTHON=$(BIN)/python bash scripts/train_all.sh

evaluate: venv  ## recompute every committed model's test accuracy
	$(BIN)/python -m training.evaluate models_store/*/* --data-dir $(DATA_DIR)

bench: venv  ## tinyserve vs hand-written FastAPI (+ the peers: BENCH_ARGS=--peerbench), about 17 min
	$(BIN)/python -m bench.run $(BENCH_ARGS)

.PHONY: container-check
container-check: venv  ## build and run the images with podman, compose too (root; see docs/docker.md)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -m container -s tests/deploy/test_container.py

.PHONY: docs docs-serve
docs: venv  ## the documentation site into site/ (strict: a broken link or a missing page fails)
	$(BIN)/mkdocs build --strict

docs-serve: venv  ## the documentation site on http://127.0.0.1:8001, rebuilt on every change
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8001

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache dist build site
