# Two entry points, both safe on a fresh machine: `make demo` and `make test`.
# Everything else they need (virtualenv, Python packages, the engine's jars) is set up here.
# The fast loop, `make test-unit` and `make test-fast`, needs only the virtualenv.

VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup demo test test-unit test-fast lint format clean bench-search postgresql maven

setup: $(VENV)/.installed .engines/opensearch.cp .engines/es7.cp .engines/opensearch2.cp .engines/keycloak.ok .engines/chromium.ok postgresql  ## Python packages, engine jars, Keycloak, Chromium, PostgreSQL

$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# The engines' jars and Keycloak come from Maven Central, through Maven.
maven:
	@command -v mvn >/dev/null || { apt-get update -q && apt-get install -y -q maven; }

.engines/opensearch.cp: config/engines/pom.xml $(VENV)/.installed | maven
	rm -f $@
	$(BIN)/cellfed engine classpath --kind opensearch

.engines/opensearch2.cp: config/engines/pom.xml $(VENV)/.installed | maven  # for the 3-node cluster tests
	rm -f $@
	mvn -q -B -f config/engines/pom.xml -Popensearch -Dopensearch.runner.version=2.19.1.0 \
		dependency:build-classpath -Dmdep.outputFile=$(CURDIR)/$@

.engines/es7.cp: config/engines/pom.xml $(VENV)/.installed | maven
	rm -f $@
	$(BIN)/cellfed engine classpath --kind elasticsearch7

# The store's tests run on SQLite and on a throwaway PostgreSQL cluster the test session
# starts from Debian's package (or on CELLFED_TEST_POSTGRES_URL when set).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "$$CELLFED_TEST_POSTGRES_URL" ] \
		|| { apt-get update -q && apt-get install -y -q postgresql; }

.engines/keycloak.ok: config/engines/pom.xml $(VENV)/.installed | maven
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

# The fast loop: the virtualenv only, no Maven, engine, Keycloak or Chromium. The store's
# tests also run on PostgreSQL when Debian's package is installed (`make postgresql`) or
# CELLFED_TEST_POSTGRES_URL is set, and are skipped on it otherwise.
test-unit: $(VENV)/.installed  ## Unit tests: pure Python and SQLite; no engine, no identity provider
	$(PY) -m pytest tests/unit

FAST := not engine and not keycloak and not browser and not cluster and not faults
test-fast: $(VENV)/.installed  ## Every test that needs no engine, Keycloak or Chromium (by marker)
	$(PY) -m pytest -m "$(FAST)"

DOCS ?= 1000000  # several sizes in one run: DOCS="200000 1000000"
bench-search: setup  ## Search latency benchmark against the engine at CELLFED_SEARCH_URL (not a test)
	$(PY) -m bench.search_latency $(foreach d,$(DOCS),--docs $(d)) --queries bench/queries/mix.txt

lint: $(VENV)/.installed  ## ruff (lint and format) and the type checker over the five packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .engines instance .pytest_cache .ruff_cache
