# Two entry points for a fresh machine with only Python and pip:
#   make run   - the main job: train a PPO agent on the bundled real stocks, then backtest it
#   make test  - lint and the whole test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run summary test test-fast docs lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@echo "make: installing jaxtrade and its dependencies (JAX, Flax, optax, orbax, pandas, ...) into $(VENV):"
	@echo "      about 1-3 minutes and 1 GB on a fresh machine; pip lists each package as it goes"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off -c constraints.txt -e '.[dev]'  # the tested versions
	touch $(STAMP)
	@echo "make: installed into $(VENV)"

run: $(STAMP)
	$(BIN)/jaxtrade train --config configs/quickstart.yaml --checkpoint-dir runs/quickstart --resume

summary: $(STAMP)
	$(BIN)/jaxtrade summary --config configs/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check jaxtrade tests benchmarks scripts
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -n auto --dist worksteal

test-fast: lint  # the suite without the tests marked slow (learning runs, walk-forwards, CLI training runs)
	$(BIN)/python -m pytest -q -n auto --dist worksteal -m 'not slow'

docs: $(STAMP)  # build the docs site into site/ (strict: a broken link or reference fails)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[bench]'  # gym-anytrading and SB3, the baselines
	$(BIN)/python benchmarks/feature_pipeline.py
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/encoder_latency.py
	$(BIN)/python benchmarks/ppo_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
