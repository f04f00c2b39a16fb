# The README's commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Debian packages the tests use: browser tests (chromium), the kiosk window under a virtual
# screen (Qt WebEngine libraries, xvfb), CJK fonts, speech (espeak-ng, sox), nginx -t, openssl.
DEB_PACKAGES := python3-venv chromium libatomic1 xvfb xauth libegl1 libxcomposite1 libxdamage1 \
	libxtst6 libasound2 libdbus-1-3 libfontconfig1 libglib2.0-0 libnss3 libxcb-cursor0 \
	libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxkbcommon-x11-0 fonts-noto-cjk espeak-ng sox \
	nginx openssl

.PHONY: demo test test-fast lint typecheck bench bench-city clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,server,kiosk]'
	touch $(STAMP)

## system-deps: install the Debian packages above when running as root and any is missing
system-deps:
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "missing Debian packages:$$missing (install them as root)" >&2; exit 0; fi; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

## demo: a server on SQLite and an enrolled kiosk in browser mode (Ctrl-C stops both)
demo: $(STAMP)
	$(BIN)/linli demo

## test: lint, type check, then the whole test suite (SQLite and PostgreSQL)
test: system-deps $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

## test-fast: the inner loop: the tests that are neither slow, nor in a browser, nor in tests/system/
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser and not system" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: both benchmarks (not part of `make test`)
bench: $(STAMP)
	$(BIN)/python bench/sync_backlog.py
	$(MAKE) bench-city

## bench-city: a city of 10,000 and of 1,000,000 requests on PostgreSQL, every page measured
CITY_DB ?= linli_city
bench-city: $(STAMP)
	nice -n 19 $(BIN)/python -m bench.city --database $(CITY_DB) $(CITY_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
