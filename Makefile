# ShakeLab: `make run` and `make test` are the whole quick start.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install system services run download-cifar test lint bench wheels clean

# Re-installs only when pyproject.toml changes, so a second `make install` is instant.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[engine,dev]'
	touch $(STAMP)

# Debian packages the tests need (Chromium, docker-compose), installed only when missing.
system:
	bash scripts/system-deps.sh

# PostgreSQL and Redis for the integration tests, started when they are not running.
services:
	bash scripts/services.sh

# The whole system on this machine: SQLite, the embedded broker, the API with the dashboard, one worker.
run: install
	$(PY) -m backend run

# CIFAR-10 and CIFAR-100 into the workers' data directory ($$SHAKELAB_DATA_DIR, else $$SHAKELAB_HOME/data), once;
# `make download-cifar DATASETS=cifar10` for one. Workers also fetch a missing one themselves unless
# SHAKELAB_DOWNLOAD_DATASETS=false.
DATASETS ?= cifar10 cifar100
download-cifar: install
	$(PY) -m worker.engine download $(DATASETS)

test: install system services
	$(PY) -m pytest -n 2 --dist loadgroup

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) bench/engine.py

# The GPU machine has its own torch (Python 3.12) but not pydantic: fetch the wheels it lacks into .whl/,
# to carry there (see docs/benchmarks.md). Versions follow what .venv resolved.
GPU_WHEELS := pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0
wheels: install
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d .whl $(GPU_WHEELS)

clean:
	rm -rf $(VENV) .pytest_cache
