# tierline — the two commands a user needs: `make demo` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP_DEV := $(VENV)/.installed-dev
STAMP := $(VENV)/.installed

.PHONY: test check demo lint fmt sysdeps bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP)

# Debian packages the tests need (a real browser). Idempotent: skips what is there.
sysdeps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian chromium for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will fail"; \
	fi

test: $(STAMP_DEV) sysdeps
	$(MAKE) check

check:
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)
	$(BIN)/mypy --strict src/tierline
	$(BIN)/pytest -q

demo: $(STAMP)
	$(BIN)/tierline demo

# The assignment benchmark (bench/README.md); add 10000000 to SIZES for the 10^7 run.
STAMP_BENCH := $(VENV)/.installed-bench
SIZES ?= 100000 1000000
$(STAMP_BENCH): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(STAMP)

bench: $(STAMP_BENCH)
	$(BIN)/python bench/assign.py --sizes $(SIZES)

fmt:
	$(BIN)/ruff format src tests $(wildcard bench)
	$(BIN)/ruff check --fix src tests $(wildcard bench)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
