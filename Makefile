# Two commands a new user needs: `make demo` and `make test`. Everything else is what they call.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DEMO_PERSONS ?= 20000
export DJANGO_SETTINGS_MODULE := povertycloud.settings

.PHONY: demo test install system-deps lint migrate serve test-postgres clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# System packages: Chromium for browser tests and a CJK font for charts and PDFs.
system-deps:
	@bash scripts/install-system-deps.sh

# The background worker (uploads, long jobs) runs beside the web server and stops with it. run_worker first marks
# jobs whose worker died as failed (and again every 5 minutes), then runs django-tasks' db_worker.
demo: install
	DJANGO_ENV=development $(PY) manage.py build_demo --persons $(DEMO_PERSONS)
	DJANGO_ENV=development $(PY) manage.py run_worker & worker=$$!; \
	trap "kill $$worker 2>/dev/null" EXIT INT TERM; \
	DJANGO_ENV=development $(PY) manage.py runserver 127.0.0.1:8000

test: install system-deps
	DJANGO_ENV=test $(BIN)/ruff check .
	DJANGO_ENV=test $(BIN)/pytest

test-postgres: install system-deps
	DJANGO_ENV=test DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/povertycloud} $(BIN)/pytest

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf var/ staticfiles/ .pytest_cache
