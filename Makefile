# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run test lint check bench clean constraints

# Installs the versions in constraints.txt, the ones the test suite last passed with.
$(BIN)/nora-chat: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "nora-chat needs Python >= 3.11 (set PYTHON=python3.12, say)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	@touch $@

## run: the service on its embedded default (SQLite under ./var, in-process broker, demo accounts)
run: $(BIN)/nora-chat
	NORA_ENV=development $(BIN)/nora-chat serve --demo --port $(PORT)

## test: the whole test suite (PostgreSQL/Redis tests skip with a notice if those are not running),
## spread over TEST_WORKERS processes, a test file each at a time (most tests wait on servers, not CPU)
TEST_WORKERS ?= 4
test: $(BIN)/nora-chat
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

## lint: ruff and mypy --strict
lint: $(BIN)/nora-chat
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: lint test

## bench: the standard benchmark set (see bench/README.md)
bench: $(BIN)/nora-chat
	$(BIN)/python -m bench run --standard

## constraints: after upgrading dependencies in the venv, record their versions (then `make check`)
constraints: $(BIN)/nora-chat
	{ sed -n '1,2p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -vi '^py-spy=='; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
