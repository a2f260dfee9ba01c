# Two entry points: `make demo` (build a graph from the bundled sample, show it, ask it) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU-only torch goes in first, so nothing later can pull the CUDA build.
TORCH ?= torch==2.13.0
# llama.cpp is compiled for a portable x86-64-v3 CPU rather than -march=native: on virtual machines that
# advertise AMX without enabling it, a native build dies with "Illegal instruction" on the first long prompt.
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)
DEMO_DB ?= demo/kg.db
KG := $(BIN)/kg --db $(DEMO_DB)

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH)"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --no-cache-dir "llama-cpp-python>=0.3.16,<0.4"
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

install: $(VENV)/.installed

demo: install
	rm -rf demo && mkdir -p demo
	$(KG) kb import kg/kb_sample.jsonl
	$(KG) ingest kg/sample
	$(KG) stats
	$(KG) entities --top 10
	$(KG) entity "Marie Curie" --mentions 3
	$(KG) neighbors "Radium Institute"
	$(KG) search "Who founded the institute where Irène Joliot-Curie worked?" -k 3 --explain
	$(KG) export --format graphml --out demo/graph.graphml
	$(KG) ask "Who founded the institute where Irène Joliot-Curie worked?" -k 4
	@echo
	@echo "Explore the graph in a browser: $(KG) serve   (then open http://127.0.0.1:8000/)"

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf demo $(VENV) *.egg-info
