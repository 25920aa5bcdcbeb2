# Two commands on a fresh machine: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_VERSION := 2.13.0

.PHONY: demo test setup setup-dev system-deps lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first, pinned, only when none is present: an unpinned torch would pull a CUDA build.
$(VENV)/.torch: | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==$(TORCH_VERSION)
	touch $@

# The install stamps depend on the .proto too: its gRPC stubs are generated at install time.
$(VENV)/.runtime: pyproject.toml proto/transduce/asr/v1/asr.proto $(VENV)/.torch
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml proto/transduce/asr/v1/asr.proto $(VENV)/.torch
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

# espeak-ng makes the synthetic training speech; the public-domain SWORD texts (World English Bible,
# Matthew Henry, Spurgeon) are the prose of the formatting model's training pairs (asr/data/format_pairs.py).
# Tests that need them skip when they cannot be installed.
PROSE_DEBS := sword-text-web sword-comm-mhcc sword-comm-tdavid
system-deps:
	@command -v espeak-ng >/dev/null 2>&1 || { \
	  (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null) 2>/dev/null \
	  || echo "note: espeak-ng could not be installed; synthetic-speech steps will be skipped"; }
	@command -v flite >/dev/null 2>&1 || { \
	  (apt-get update -qq && apt-get install -y -qq flite >/dev/null) 2>/dev/null \
	  || echo "note: flite could not be installed; its voices will be skipped"; }
	@dpkg -s $(PROSE_DEBS) >/dev/null 2>&1 || { \
	  (apt-get update -qq && apt-get install -y -qq $(PROSE_DEBS) >/dev/null) 2>/dev/null \
	  || echo "note: $(PROSE_DEBS) could not be installed; prose training pairs will be skipped"; }

setup: $(VENV)/.runtime system-deps
setup-dev: $(VENV)/.dev system-deps

demo: setup
	$(VENV)/bin/transduce demo

lint: setup-dev
	$(PY) -m ruff check .

test: setup-dev
	$(PY) -m ruff check .
	$(PY) -m pytest -q; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; fi; exit $$rc

clean:
	rm -rf $(VENV) build *.egg-info service/_proto
