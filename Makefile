PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
FLOOR := .venv-mlflow-floor
# The oldest MLflow a current Databricks runtime ships (16.4 LTS ML); SQLAlchemy 2.1 postdates it.
FLOOR_PINS := "mlflow==2.21.3" "sqlalchemy<2.1"
FLOOR_TESTS := tests/test_tracking.py tests/test_pipeline.py tests/test_entry_point.py tests/test_report.py
DEMO := demo-output

.PHONY: demo test test-mlflow-floor lint bench clean

# Venvs are (re)installed when missing or when pyproject.toml is newer than the last install.
# The demo needs the runtime package and MLflow's UI only (no Spark, no browser driver);
# tests, lint and bench need the dev set.
$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[ui]'
	touch $(RUNTIME)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP) $(RUNTIME)

$(FLOOR)/.installed: pyproject.toml
	test -x $(FLOOR)/bin/python || $(PYTHON) -m venv $(FLOOR)
	$(FLOOR)/bin/python -m pip install --quiet --upgrade pip
	$(FLOOR)/bin/python -m pip install --quiet -e . $(FLOOR_PINS) pytest pytest-timeout hypothesis
	touch $(FLOOR)/.installed

demo: $(RUNTIME)
	$(BIN)/python examples/demo.py --out $(DEMO)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/lint-imports

# The tracking code against the lowest MLflow we support, in a venv of its own.
test-mlflow-floor: $(FLOOR)/.installed
	$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider $(FLOOR_TESTS)

test: lint test-mlflow-floor
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/wide.py

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache
