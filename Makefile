# Two entry points (README): `make reproduce` and `make test`. Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch 2.13.0 is the CPU build this project is tested with; override for a CUDA machine, e.g.
# make reproduce TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
RUN ?= runs/classic-mnist-s0

.PHONY: reproduce test setup bench weights clean-venv

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: $(BIN)/.installed

# Train the report's LeNet-5 for 30 epochs (or finish an interrupted run), evaluate, draw its report.
reproduce: setup
	@if [ -f $(RUN)/checkpoints/last.pt ]; then $(BIN)/lenet5 train --out $(RUN) --resume; \
	else $(BIN)/lenet5 train --preset classic --out $(RUN); fi
	$(BIN)/lenet5 evaluate $(RUN)

# Retrain the bundled model and replace src/lenet5/weights/robust.pt (+ robust.json: command, metrics),
# and its ONNX twin robust.onnx, which `lenet5 predict` reads without importing torch.
WEIGHTS_RUN ?= runs/robust-bundle
weights: setup
	@if [ -f $(WEIGHTS_RUN)/checkpoints/last.pt ]; then $(BIN)/lenet5 train --out $(WEIGHTS_RUN) --resume --no-report; \
	else $(BIN)/lenet5 train --preset robust --out $(WEIGHTS_RUN) --no-report; fi
	$(BIN)/lenet5 export $(WEIGHTS_RUN) --format pt --out src/lenet5/weights/robust.pt
	$(BIN)/lenet5 export src/lenet5/weights/robust.pt --format onnx --out src/lenet5/weights/robust.onnx

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/bench_train.py

clean-venv:
	rm -rf $(VENV)
