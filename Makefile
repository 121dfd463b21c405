# Two commands: `make run` starts everything, `make test` tests everything.
# Both create the virtualenv and install what they need on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Test files run in parallel (one file per worker, so module-scoped stacks are
# reused); most of a stack test's time is waiting on the broker, not CPU.
TEST_WORKERS ?= 4

.PHONY: run test test-fast lint fmt contract bench bench-pipeline token clean fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	./scripts/ensure-system-deps.sh
	$(BIN)/tousu run

# Unit + integration tests on the real broker, SQLite and (if installed) PostgreSQL.
test: $(STAMP)
	./scripts/ensure-system-deps.sh
	$(BIN)/ruff check .
	$(BIN)/tousu contract
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP)
	$(BIN)/pytest -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .

fmt: $(STAMP)
	$(BIN)/ruff check --fix .

contract: $(STAMP)
	$(BIN)/tousu contract --write

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

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
