# Two entry points, both safe on a fresh machine: `make demo` and `make test`.
# Everything else they need (virtualenv, Python packages, the engine's jars) is set up here.

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup demo test lint format clean bench-search postgresql

setup: $(VENV)/.installed .engines/opensearch.cp .engines/es7.cp .engines/opensearch2.cp .engines/keycloak.ok .engines/chromium.ok postgresql  ## Python packages, engine jars, Keycloak, Chromium, PostgreSQL

$(VENV)/.installed: setup.cfg pyproject.toml
	@command -v mvn >/dev/null || { apt-get update -q && apt-get install -y -q maven; }
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.engines/opensearch.cp: config/engines/pom.xml $(VENV)/.installed
	rm -f $@
	$(BIN)/cellfed engine classpath --kind opensearch

.engines/opensearch2.cp: config/engines/pom.xml $(VENV)/.installed  # for the 3-node cluster tests
	rm -f $@
	mvn -q -B -f config/engines/pom.xml -Popensearch -Dopensearch.runner.version=2.19.1.0 \
		dependency:build-classpath -Dmdep.outputFile=$(CURDIR)/$@

.engines/es7.cp: config/engines/pom.xml $(VENV)/.installed
	rm -f $@
	$(BIN)/cellfed engine classpath --kind elasticsearch7

# The store's tests run on SQLite and on a throwaway PostgreSQL cluster the test session
# starts from Debian's package (or on CELLFED_TEST_POSTGRES_URL when set).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$CELLFED_TEST_POSTGRES_URL" ] \
		|| { apt-get update -q && apt-get install -y -q postgresql; }

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

DOCS ?= 1000000
bench-search: setup  ## Search latency benchmark against the engine at CELLFED_SEARCH_URL (not a test)
	$(PY) -m bench.search_latency --docs $(DOCS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .engines instance .pytest_cache .ruff_cache
