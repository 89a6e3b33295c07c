# Two entry points: `make run` (set up and start the app) and `make test` (set up and run every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test test-fast lint bench clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
# --retries 0: pip skips an unreachable PyTorch page (requirements.txt) at once, not after 5 tries per package.
	$(BIN)/pip install --retries 0 -r requirements.txt
	touch $@

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --retries 0 -r requirements-dev.txt
	touch $@

# Run locally, model folders on this machine may be loaded (off for a public server: see README). The
# bundled model's meaning index is built first, once (about half a minute; then a check of a second).
run: $(STAMP)
	$(BIN)/python -m explorer.meaning_ahead
	LSE_LOCAL_MODELS=$${LSE_LOCAL_MODELS:-1} $(BIN)/streamlit run app.py

# Two pytest-xdist workers: the browser tests mostly wait on a server or Chromium, so two at once fill the
# two cores. Each worker has its own shared server and Chromium; a module that must stay in one worker is
# marked `xdist_group` (hence --dist loadgroup).
PYTEST_WORKERS := -n 2 --dist loadgroup

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_WORKERS)

# The quick lane while editing: ruff and every test but the browser and slow ones (about 3 minutes).
test-fast: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m "not browser and not slow"

lint: $(DEV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) artifacts .pytest_cache .ruff_cache
