# Lupa: `make run` starts the whole stack, `make test` runs every test. Both install first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install browser compose run test lint format bench bench-quick clean

install: $(STAMP)

# Says what it is doing: pip's own progress bars on a terminal, one quiet line per step in CI
# (CI=true) or when the output is not a terminal ($(shell) captures stdout, so ask stderr).
PIP_OUTPUT = $(shell if [ -z "$$CI" ] && [ -t 2 ]; then echo "--progress-bar on"; else echo "--quiet"; fi)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || { echo "install: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "install: installing $$(grep -c '==' requirements.lock) pinned packages from requirements.lock (about a minute the first time)"
	@$(BIN)/python -m pip install $(PIP_OUTPUT) --disable-pip-version-check -r requirements.lock
	@echo "install: installing lupa (editable, from this checkout)"
	@$(BIN)/python -m pip install $(PIP_OUTPUT) --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)
	@echo "install: done"

run: install
	$(BIN)/lupa run

# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
# If it cannot be installed, the browser tests fail and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  echo "installing Debian's chromium for the browser tests"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium >/dev/null \
	  || echo "could not install chromium: the browser tests will fail"; }

# Debian's docker-compose for tests/deploy/test_compose.py (`docker-compose config` renders and
# checks docker-compose.yml; no container engine is needed). If it cannot be installed, that
# test fails and says why.
compose:
	@command -v docker-compose >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  echo "installing Debian's docker-compose for the deployment tests"; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq docker-compose >/dev/null \
	  || echo "could not install docker-compose: tests/deploy/test_compose.py will fail"; }

test: install browser compose
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check lupa shared services tests benchmarks
	$(BIN)/ruff format --check lupa shared services tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff format lupa shared services tests benchmarks
	$(BIN)/ruff check --fix lupa shared services tests benchmarks

bench: install
	$(BIN)/python -m benchmarks

bench-quick: install
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) .lupa/test-pg
