# Two commands matter: `make run` and `make test`. Everything else is a step
# they use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/ticketing/v1/*.proto)
BUF := node_modules/.bin/buf

.PHONY: install proto check-generated run test lint typecheck buf-lint pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(BUF): package.json
	npm install --no-audit --no-fund --silent
	touch $(BUF)

# Regenerates generated/ from proto/. The output is committed.
proto: $(STAMP)
	$(PY) scripts/protogen.py generated

# Fails when generated/ differs from what `make proto` would write.
check-generated: $(STAMP)
	$(PY) scripts/protogen.py --check generated

run: $(STAMP)
	$(VENV)/bin/ticketing-grpc serve

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests $(wildcard bench)
	$(VENV)/bin/ruff format --check src tests $(wildcard bench)

typecheck: $(STAMP)
	$(VENV)/bin/mypy src

buf-lint: $(BUF)
	$(BUF) lint

pytest: $(STAMP) $(BUF)
	$(VENV)/bin/pytest -q

test: lint typecheck buf-lint check-generated pytest

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
