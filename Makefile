# Two commands: `make run` starts everything, `make test` tests everything.
# Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Test files run in parallel (one file per worker, so module-scoped stacks are
# reused); most of a stack test's time is waiting on the broker, not CPU.
TEST_WORKERS ?= 4

# Every install comes from the lock (exact versions and hashes, resolved from
# PyPI by `make lock`); the project itself goes in editable, without deps.
LOCK       := requirements.lock
IMAGE_LOCK := deploy/requirements.lock
UV_VERSION := 0.13.8
LOCK_VENV  := .venv-lock
UV_COMPILE := $(LOCK_VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
              --generate-hashes --no-config --quiet

.PHONY: run test test-fast lint fmt contract bench bench-pipeline bench-smtp bench-transactions bench-fax token clean lock lock-upgrade fuzz

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/pip check || { echo "$(LOCK) does not match pyproject.toml: run make lock" >&2; exit 1; }
	touch $(STAMP)

$(LOCK_VENV)/bin/uv:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet 'uv==$(UV_VERSION)'

# Refresh the lock after a change to pyproject.toml: versions already locked stay
# unless pyproject.toml rules them out. The image's lock is the subset it needs,
# at the same versions.
# The build backend (pyproject's build-system.requires, and `editables`, which
# hatchling asks for to build an editable install) is locked too: the project is
# installed with --no-build-isolation, so no unlocked package is ever used.
BUILD_REQUIRES = $(PYTHON) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], 'editables', sep='\n')"
lock: $(LOCK_VENV)/bin/uv
	$(BUILD_REQUIRES) | $(UV_COMPILE) - $(UPGRADE) --extra dev --extra local --extra otlp -o $(LOCK)
	$(BUILD_REQUIRES) | $(UV_COMPILE) - --extra otlp -c $(LOCK) -o $(IMAGE_LOCK)

# Take the newest releases pyproject.toml allows (then run `make test`).
lock-upgrade:
	$(MAKE) lock UPGRADE=--upgrade

run: $(STAMP)
	./scripts/ensure-system-deps.sh
	./scripts/ensure-oidc-dev.sh
	$(BIN)/tousu run

# Unit + integration tests on the real broker, SQLite and (if installed) PostgreSQL.
test: $(STAMP)
	./scripts/ensure-system-deps.sh
	./scripts/ensure-oidc-dev.sh
	$(BIN)/ruff check .
	$(BIN)/tousu contract
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --durations=20

test-fast: $(STAMP)
	$(BIN)/pytest -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

contract: $(STAMP)
	$(BIN)/tousu contract --write

# A token `make run`'s stack accepts: signed by its OpenID provider (HS256 if none runs).
token: $(STAMP)
	@$(BIN)/tousu token --sub dev --roles agent,csc,manager --department csc

# Schemathesis CLI against the whole stack (started and stopped by the script):
# FUZZ_EXAMPLES per operation, FUZZ_SEED to replay (printed), FUZZ_SERVICES subset.
fuzz: $(STAMP)
	./scripts/ensure-system-deps.sh
	$(BIN)/python scripts/fuzz.py

bench: $(STAMP)
	$(BIN)/python bench/bench_intake.py

bench-pipeline: $(STAMP)
	$(BIN)/python bench/bench_pipeline.py $(ARGS)

bench-smtp: $(STAMP)
	$(BIN)/python bench/bench_smtp.py $(ARGS)

bench-transactions: $(STAMP)
	$(BIN)/python bench/bench_transactions.py $(ARGS)

bench-fax: $(STAMP)
	$(BIN)/python bench/bench_fax.py --ablate --calibrate $(ARGS)

# The console's reads at 100,000 seeded complaints (issue 15); ARGS=--quick: 5,000.
.PHONY: bench-console
bench-console: $(STAMP)
	./scripts/ensure-oidc-dev.sh
	$(BIN)/python bench/bench_console.py $(ARGS)

clean:
	rm -rf $(VENV) $(LOCK_VENV) var .pytest_cache .ruff_cache
