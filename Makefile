# Two commands: `make run` (the demo) and `make test` (everything). Both set up .venv first.
# `make screenshots` saves a picture of every main screen of the demo in screenshots/.
# Requirements: requirements.in and requirements-dev.in are edited by hand; requirements.txt and
# requirements-dev.txt are their lock files (every package pinned, with hashes), made by `make lock`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --custom-compile-command "make lock"

.PHONY: run test screenshots bench lint audit lock format clean

$(BIN)/python:
	$(PYTHON) -m venv --upgrade-deps $(VENV)

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

# The demo migrates and collects the static files itself: one start of Django, one set of warnings.
run: $(VENV)/.runtime-installed
	$(BIN)/python manage.py demo

test: lint
	scripts/ensure-chromium
	$(BIN)/coverage run -m pytest
	$(BIN)/python scripts/coverage_summary.py

screenshots: $(VENV)/.dev-installed
	scripts/ensure-chromium
	$(BIN)/python scripts/screenshots.py

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

lint: $(VENV)/.dev-installed
	$(BIN)/python scripts/check_locks.py
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Known vulnerabilities in the locked packages (CI runs it)
audit: $(VENV)/.dev-installed
	$(BIN)/python scripts/audit.py

# Both lock files from their inputs, keeping every version already locked that the inputs still allow;
# `make lock UPGRADE=1` takes the newest releases of the packages not pinned in an input.
lock: $(VENV)/.dev-installed
	$(LOCK) $(if $(UPGRADE),--upgrade) requirements.in -o requirements.txt
	$(LOCK) $(if $(UPGRADE),--upgrade) requirements-dev.in -c requirements.txt -o requirements-dev.txt

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) staticfiles .coverage .mypy_cache .import_linter_cache
