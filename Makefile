# ShakeLab: `make run` and `make test` are the whole quick start.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

# Re-installs only when pyproject.toml changes, so a second `make install` is instant.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[torch,dev]'
	touch $(STAMP)

run: install
	$(PY) -m worker.engine --help

test: install
	$(PY) -m pytest -n 2 --dist loadgroup

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache
