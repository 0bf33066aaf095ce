# Music Cloud. `make help` lists the targets.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# The suite runs in this many processes (pytest-xdist), a test file to each; the tests
# marked serial (a real player keeping time) run alone afterwards.
TEST_PROCESSES ?= 2
export FLASK_APP := wsgi.py

# Debian packages the test suite drives: a real browser, real audio tools, real nginx,
# curl and jq (the README's REST API walk-through is run as written).
# Node runs the player's unit tests (tests/js/) with its built-in runner; any
# node on PATH will do, so Debian's is installed only when there is none.
NODE_DEB := $(if $(shell command -v node 2>/dev/null),,nodejs)
# mopidy, its MPD server and mpc are the headless Subsonic player (with `make player-deps`);
# curl and jq run the README's REST API walk-through.
TEST_DEBS := chromium ffmpeg nginx-light mopidy mopidy-mpd mpc curl jq $(NODE_DEB)
# ... and what the benchmarks add: a load generator.
BENCH_DEBS := ffmpeg nginx-light wrk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.DEFAULT_GOAL := help
.PHONY: help run dev worker serve test bench bench-deps player-deps lint format install install-dev system-deps db-upgrade translations translations-update translations-check clean

help: ## Show this list
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned requirements

install-dev: $(VENV)/.installed-dev ## Also install what tests and lint need

# Debian's mopidy runs on Debian's python: its extension goes into a folder of
# its own, which the player test puts on mopidy's PYTHONPATH.
$(VENV)/mopidy/.installed: requirements-player.txt | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps --upgrade --target $(VENV)/mopidy -r requirements-player.txt
	touch $@

player-deps: $(VENV)/mopidy/.installed ## Install Mopidy-Subidy for the headless player test (into .venv/mopidy)

translations: install ## Compile the language catalogues (translations/*/LC_MESSAGES/messages.po -> .mo)
	$(BIN)/pybabel -q compile -d translations

translations-update: install ## After changing user-visible text: extract it and merge it into every catalogue
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs '.* __pycache__' --add-location=file --sort-output -o translations/messages.pot app templates
	$(BIN)/pybabel -q update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-pot-creation-date

translations-check: install ## Fail when a user-visible text is missing from the catalogues
	@tmp=$$(mktemp -d); \
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs '.* __pycache__' --add-location=file --sort-output -o $$tmp/messages.pot app templates && \
	$(BIN)/pybabel -q update -i $$tmp/messages.pot -d translations --no-fuzzy-matching --ignore-pot-creation-date --check \
	  || { echo "The catalogues are out of date: run make translations-update and translate what it adds."; rm -rf $$tmp; exit 1; }; \
	rm -rf $$tmp

db-upgrade: install translations ## Apply the migrations (SQLite under instance/ unless DATABASE_URL is set)
	mkdir -p instance
	$(BIN)/flask db upgrade

# The job worker runs beside the server and stops with it (Ctrl-C, or the server failing
# to start): a separate process, as in production, whatever serves the pages.
define with_worker
	@$(BIN)/flask worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; trap 'exit 130' INT TERM; \
	$(1)
endef

run: db-upgrade ## Set everything up and serve on http://127.0.0.1:5000 with the production server (gunicorn), with a job worker
	$(call with_worker,$(BIN)/gunicorn -c deploy/gunicorn.conf.py -b $(HOST):$(PORT) wsgi:app)

dev: db-upgrade ## Like run, with Flask's development server: reloads on code changes, shows tracebacks
	$(call with_worker,$(BIN)/flask run --debug --host $(HOST) --port $(PORT))

worker: db-upgrade ## Production: process background jobs (flask worker; run it as its own service)
	$(BIN)/flask worker

serve: db-upgrade ## Production: migrate, then gunicorn with deploy/gunicorn.conf.py (127.0.0.1:8000)
	$(BIN)/gunicorn -c deploy/gunicorn.conf.py wsgi:app

# Installs the Debian packages in $(1) that are missing (apt-get, with sudo when not root).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

system-deps: ## Install the Debian packages the tests use (chromium, ffmpeg, nginx, mopidy, mpc, nodejs), if missing
	$(call apt_install,$(TEST_DEBS))

bench-deps: ## Install the Debian packages the benchmarks use (ffmpeg, nginx, wrk), if missing
	$(call apt_install,$(BENCH_DEBS))

# The file list, not the folder: Node 21 and later read a folder argument as a
# file name and fail.
# Every part runs even when one fails (a failure in the first part used to hide the
# others' results); the target fails when any part did.
test: system-deps install-dev player-deps translations ## Run the whole test suite (SQLite and PostgreSQL), then the player's JS tests
	status=0; \
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile -m "not serial" $(PYTEST_ARGS) || status=1; \
	$(BIN)/pytest -m serial $(PYTEST_ARGS) || status=1; \
	node --test tests/js/*.test.mjs || status=1; \
	exit $$status

bench: bench-deps install-dev ## Run every benchmark in bench/ and print their tables (about 20 minutes)
	$(BIN)/python bench/library_bench.py
	$(BIN)/python bench/subsonic_bench.py
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/subsonic_stream_bench.py
	$(BIN)/python bench/analysis_bench.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/zip_import_bench.py
	$(BIN)/python bench/upload_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/recs_eval.py
	$(BIN)/python bench/history_bench.py
	$(BIN)/python bench/memory_bench.py
	$(BIN)/python bench/transcode_bench.py
	$(BIN)/python bench/preencode_bench.py
	$(BIN)/python bench/ops_overhead_bench.py

lint: install-dev translations-check ## ruff: lint and format check; the catalogues hold every text
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev ## ruff: fix what can be fixed and reformat
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean: ## Remove the virtual environment and caches (keeps instance/ and uploads/)
	rm -rf $(VENV) .pytest_cache .ruff_cache
