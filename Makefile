# SCORE4Climate Programme API — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help install run test docs fuzz sdk-check lint typecheck format openapi migrate bench load clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with its dev tools

run: $(STAMP) ## serve on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/score4climate serve

test: $(STAMP) ## ruff, mypy, the strict docs build and the whole test suite on a real PostgreSQL
	$(BIN)/ruff check app tests alembic bench loadtest scripts
	$(BIN)/ruff format --check app tests alembic bench loadtest scripts
	$(BIN)/mypy app scripts
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site
	$(BIN)/pytest -n auto

docs: $(STAMP) ## build the documentation site from docs/ into site/ (strict: a broken link fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

fuzz: $(STAMP) ## Schemathesis over every operation and role with many examples (FUZZ_EXAMPLES, default 100)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_COVERAGE=1 $(BIN)/pytest -p no:cacheprovider -n auto tests/platform/test_fuzz.py

sdk-check: $(STAMP) ## generate Kotlin and Swift clients (openapi-generator, Java 11+) and check their error models are typed
	$(BIN)/pytest -p no:cacheprovider tests/operations/test_sdks.py -k native

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check app tests alembic bench loadtest scripts
	$(BIN)/ruff format --check app tests alembic bench loadtest scripts

typecheck: $(STAMP) ## mypy (strict)
	$(BIN)/mypy app scripts

format: $(STAMP) ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix app tests alembic bench loadtest scripts
	$(BIN)/ruff format app tests alembic bench loadtest scripts

openapi: $(STAMP) ## write openapi.json from the app
	$(BIN)/score4climate export-openapi

migrate: $(STAMP) ## apply migrations
	$(BIN)/score4climate migrate

bench: $(STAMP) ## seed 10,000 enterprises (4M results), measure the progress pull vs a bare-ASGI ceiling, webhook delivery, attachments
	$(BIN)/python bench/run.py

load: $(STAMP) ## mixed traffic of every role for LOAD_SECONDS (120) on loopback: zero 5xx, zero cross-tenant leaks, p99
	$(BIN)/python loadtest/run.py

clean: ## remove the virtualenv and local data (embedded database included)
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache site
