# Two entry points, both safe on a fresh machine: `make demo` and `make test`.
# Everything else they need (virtualenv, Python packages, the engine's jars) is set up here.

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup demo test lint format clean postgresql

setup: $(VENV)/.installed .engines/opensearch.cp postgresql  ## Install Python packages, the engine, PostgreSQL

$(VENV)/.installed: setup.cfg pyproject.toml
	@command -v mvn >/dev/null || { apt-get update -q && apt-get install -y -q maven; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.engines/opensearch.cp: config/engines/pom.xml $(VENV)/.installed
	rm -f $@
	$(BIN)/cellfed engine classpath

# The store's tests run on SQLite and on a throwaway PostgreSQL cluster the test session
# starts from Debian's package (or on CELLFED_TEST_POSTGRES_URL when set).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$CELLFED_TEST_POSTGRES_URL" ] \
		|| { apt-get update -q && apt-get install -y -q postgresql; }

demo: setup  ## Run engine, three member nodes, indexer and portal; prints the portal URL
	$(BIN)/cellfed demo

test: setup lint  ## Lint, then every test (starts a real OpenSearch for the integration tests)
	$(PY) -m pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .engines instance .pytest_cache .ruff_cache
