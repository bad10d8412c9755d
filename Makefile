# The two commands: `make run` (the demo) and `make test` (the whole suite). Both build the
# virtual environment they need first. `make lint` and `make bench` are the others.

PYTHON ?= python3
# Two test processes (pytest-xdist), one per core: the end-to-end tests wait on real processes
# (PSP, worker, emulator), so the suite takes about half as long. PYTEST_ARGS= runs it serially.
PYTEST_ARGS ?= -n 2
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run stripe-emulator test lint bench-hot bench-claim bench-psp bench-admin bench-recovery bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file changes.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# The demo runs with DEBUG on (its default is off): demo secrets, and the demo's staff login.
run: export DEBUG = true
run: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --noinput
	scripts/run_demo.sh  # runs demo_setup first, with the demo's addresses

# A Stripe emulator for the demo in Stripe mode, with no account and no internet (README, "Stripe mode").
stripe-emulator: $(VENV)/.dev
	scripts/run_stripe_emulator.sh

# mypy's Django plugin and makemigrations load the settings, which need DEBUG on without secrets.
lint: export DEBUG = true
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/mypy paysite checkout payments webhooks psp_sandbox midoffice bench
	# The layers (.importlinter): edges above the domain, the domain above the PSP port; no arrow back up.
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_domain_imports.py  # and no admin, view, request or DRF in the domain
	# A model change without its migration fails. No database server is needed (nor reached) for it.
	DATABASE_URL=sqlite:///:memory: $(BIN)/python manage.py makemigrations --check --dry-run

test: $(VENV)/.dev lint
	scripts/browser_check.sh
	$(BIN)/pytest $(PYTEST_ARGS)

bench-psp: $(VENV)/.dev
	$(BIN)/python -m psp_sandbox.bench

# The mid-office at 10,000 and 1,000,000 attempts; needs PostgreSQL (BENCH_DATABASE_URL, see the script).
bench-admin: $(VENV)/.dev
	$(BIN)/python -m bench.admin_changelist

# PostgreSQL restarted under a running system (a throwaway cluster, gunicorn, worker, sandbox).
bench-recovery: $(VENV)/.dev
	DEBUG=true $(BIN)/python -m bench.recovery_db_restart

# The hot paths under load as ratios to a hello-world Django on the same gunicorn (issue 14).
bench-hot: $(VENV)/.dev
	$(BIN)/python -m bench.hot_paths

# The poller's claim of 100 due attempts at 10,000 and 1,000,000 attempts (issue 14).
bench-claim: $(VENV)/.dev
	$(BIN)/python -m bench.poller_claim

bench: bench-hot bench-claim bench-psp bench-admin

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache .hypothesis
