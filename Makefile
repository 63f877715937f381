# Two commands for newcomers: `make demo` and `make test`. Both create .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
DEMO_DIR ?= demo-out
SITE_DIR ?= site
BIN := $(VENV)/bin

.PHONY: demo test lint docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-demo  # [test] includes [all]

demo: $(VENV)/.installed-demo
	$(BIN)/hub demo --dir $(DEMO_DIR)

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python tools/typecheck.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(SITE_DIR)  # no --quiet: it hides warnings from strict
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python tools/typecheck.py

# NO_MKDOCS_2_WARNING=1 silences the Material theme's end-of-life banner (a notice, not a build warning)
docs: $(VENV)/.installed-test  # the site for connector authors (mkdocs.yml), warnings as errors: open site/index.html
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(SITE_DIR)

bench: $(VENV)/.installed-test  # about 20 minutes; Node-RED side by side when `node-red` is on the PATH
	$(BIN)/python bench/core_bench.py
	$(BIN)/python bench/scale_bench.py
	$(BIN)/python bench/webhook_bench.py
	$(BIN)/python bench/idle_bench.py --default-intervals --minutes 10

clean:
	rm -rf $(VENV) .venv-demo demo-out demo-out-ci .pytest_cache $(SITE_DIR)
