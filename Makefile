# Two entry points, both safe on a fresh machine: `make demo` and `make test`.
# Everything else they need (virtualenv, Python packages, the engine's jars) is set up here.

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup demo test lint format clean

setup: $(VENV)/.installed .engines/opensearch.cp .engines/keycloak.ok .engines/chromium.ok  ## Install Python packages, resolve the engine and Keycloak, get Chromium

$(VENV)/.installed: setup.cfg pyproject.toml
	@command -v mvn >/dev/null || { apt-get update -q && apt-get install -y -q maven; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.engines/opensearch.cp: config/engines/pom.xml $(VENV)/.installed
	rm -f $@
	$(BIN)/cellfed engine classpath

.engines/keycloak.ok: config/engines/pom.xml $(VENV)/.installed
	$(BIN)/cellfed idp fetch
	touch $@

# Browser tests drive Debian's Chromium (Playwright cannot download its own browser here).
.engines/chromium.ok:
	@test -x /usr/bin/chromium || { apt-get update -q && apt-get install -y -q chromium; }
	@mkdir -p .engines && touch $@

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
