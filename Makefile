# Two entry points: `make demo` (build a graph from the bundled sample, show it, ask it) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU-only torch goes in first, so nothing later can pull the CUDA build.
TORCH ?= torch==2.13.0
DEMO_DB ?= demo/kg.db
KG := $(BIN)/kg --db $(DEMO_DB)

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install "$(TORCH)"
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

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf demo $(VENV) *.egg-info
