PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed
# uv installs the lock (uv.lock) and the floor's pinned requirements. It comes from PyPI at one
# version, in a venv of its own, so nothing of the machine's Python is touched.
UV_VERSION := 0.13.9
TOOLS := .venv-tools
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
# Where PYTHONDONTWRITEBYTECODE is set (as on our machines) every process would compile MLflow
# anew (~7 s a CLI call). The demo's venv compiles every .pyc at install time, as pip does (uv
# does not by default). The dev venvs compile only what is imported, once: processes make runs
# write their .pyc (an empty value is "unset" to Python), and `warm` imports the heavy packages
# while lint runs. Compiling all 13,000 files of the dev set took 36 s of the install.
export UV_COMPILE_BYTECODE := 1
export PYTHONDONTWRITEBYTECODE :=
WARM := alignment_mlflow.cli, mlflow, mlflow.tracking, mlflow.pyfunc, mlflow.server, \
	mlflow.store.tracking.sqlalchemy_store, pandas, sklearn.linear_model, pyarrow.dataset, deltalake, \
	pyspark.sql, databricks.sdk, statsmodels.api, hypothesis, pytest
export UV_PROJECT_ENVIRONMENT := $(VENV)
# The oldest MLflow a current Databricks runtime ships (16.4 LTS ML), locked in requirements/.
FLOOR := .venv-mlflow-floor
FLOOR_LOCK := requirements/mlflow-floor.txt
FLOOR_TESTS := tests/test_tracking.py tests/test_pipeline.py tests/test_entry_point.py tests/test_report.py \
	tests/test_tag_layout.py \
	tests/test_gate_mlflow.py tests/test_runtime.py tests/test_serving.py
# The newest versions pyproject.toml's ranges allow, unlocked: drift is found here, on purpose.
LATEST := .venv-latest
DEMO := demo-output
# The suite runs on every core (pytest-xdist): the units a worker takes are set in
# tests/conftest.py (every Spark test on one worker, every other test with its module, the
# longest units first); each worker starts its own session-wide servers. PYTEST_WORKERS=0 runs
# it in one process.
PYTEST_WORKERS ?= auto
XDIST := -n $(PYTEST_WORKERS) --dist loadgroup --no-loadscope-reorder
# Delta's jars for the Spark tests (classic and Spark Connect), fetched from Maven Central with the
# machine's Maven: the Delta release that matches the pyspark of the dev set (uv.lock). Tests
# pass the files explicitly (no --packages, no Ivy).
DELTA_VERSION := 4.0.1
JARS := .jars
DELTA_JARS := $(JARS)/delta-spark_2.13-$(DELTA_VERSION).jar $(JARS)/delta-storage-$(DELTA_VERSION).jar
MVN_COPY := org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy

.PHONY: demo install jars test test-mlflow-floor test-latest lint lock bench clean docs warm

$(UV):
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Venvs are (re)installed from the lock when missing or when the lock or pyproject.toml changed.
# The demo needs the runtime package and MLflow's UI only (no Spark, no browser driver):
# --inexact keeps a dev set that is already there.
$(RUNTIME): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --extra ui --python $(PYTHON) --quiet
	touch $(RUNTIME)

$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_COMPILE_BYTECODE=0 $(UV) sync --frozen --extra dev --extra ui --python $(PYTHON) --quiet
	touch $(STAMP) $(RUNTIME)

$(FLOOR)/.synced: pyproject.toml $(FLOOR_LOCK) | $(UV)
	test -x $(FLOOR)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(FLOOR)
	UV_COMPILE_BYTECODE=0 $(UV) pip sync --quiet --python $(FLOOR)/bin/python $(FLOOR_LOCK)
	touch $(FLOOR)/.synced

# Our package, built after the dev venv's build of it (make -j): setuptools writes its
# egg-info into src/, and two builds at once would write it together.
$(FLOOR)/.installed: $(FLOOR)/.synced | $(STAMP)
	$(UV) pip install --quiet --python $(FLOOR)/bin/python --no-deps -e .
	touch $(FLOOR)/.installed

install: $(STAMP) $(FLOOR)/.installed jars

jars: $(DELTA_JARS)

# One Maven at a time (make -j): two would fetch the same plugin into an empty ~/.m2 at once.
$(JARS)/delta-storage-$(DELTA_VERSION).jar: | $(JARS)/delta-spark_2.13-$(DELTA_VERSION).jar

$(JARS)/%-$(DELTA_VERSION).jar:
	@command -v mvn >/dev/null 2>&1 || { echo "error: Maven (mvn) is not installed; the Spark tests need Delta's jars from Maven Central: install Maven (apt-get install maven) and run make jars" >&2; exit 1; }
	@mkdir -p $(JARS)
	@mvn -q -B $(MVN_COPY) -Dartifact=io.delta:$*:$(DELTA_VERSION) -DoutputDirectory=$(JARS) >$(JARS)/mvn.log 2>&1 \
		|| { tail -n 20 $(JARS)/mvn.log >&2; echo "error: could not fetch io.delta:$*:$(DELTA_VERSION) from Maven Central (is the registry reachable?); the Spark tests need it: rerun make jars" >&2; exit 1; }
	@test -s $@ || { echo "error: Maven reported success but $@ is missing" >&2; exit 1; }

demo: $(RUNTIME)
	$(BIN)/python examples/demo.py --out $(DEMO)

lint: $(STAMP)
	$(UV) lock --locked --quiet --python $(PYTHON)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src
	$(BIN)/lint-imports

# The tracking code against the lowest MLflow we support, in a venv of its own.
test-mlflow-floor: $(FLOOR)/.installed
	$(FLOOR)/bin/python -m pytest -q -p no:cacheprovider $(XDIST) $(FLOOR_TESTS)

# The .pyc of what the suite's processes import, written once before they start at once.
warm: $(STAMP)
	$(BIN)/python -c "import $(WARM)"

# The docs site (mkdocs.yml, docs/): warnings are errors, so a broken link or anchor fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

# The checks before the suite run side by side (mypy and the docs build use one core each, the
# floor's tests the rest: 72 s instead of 104 s in series); each one's output is printed whole.
test: $(STAMP) $(FLOOR)/.installed jars
	$(MAKE) --no-print-directory -j3 --output-sync=target lint docs test-mlflow-floor warm
	$(BIN)/python -m pytest $(XDIST) --durations=30

# The suite on the newest versions pyproject.toml allows (not the lock). Run it before `make lock`
# and when a dependency announces a release; it is not part of CI. It prints how the newest
# versions differ from the lock, then runs the suite.
test-latest: | $(UV)
	rm -rf $(LATEST)
	$(UV) venv --quiet --python $(PYTHON) $(LATEST)
	$(UV) pip install --quiet --refresh --python $(LATEST)/bin/python -e '.[dev,ui]'
	$(LATEST)/bin/python .ci/drift.py uv.lock
	$(LATEST)/bin/python -m pytest -p no:cacheprovider $(XDIST)

# Regenerate the locks at the newest versions the ranges allow (`uv lock` alone only adds
# what pyproject.toml newly asks for, keeping every other pin).
lock: | $(UV)
	$(UV) lock --upgrade --python $(PYTHON)
	$(UV) pip compile --quiet --universal --upgrade --python $(PYTHON) --generate-hashes \
		pyproject.toml requirements/mlflow-floor.in -o $(FLOOR_LOCK)

bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/wide.py

clean:
	rm -rf $(DEMO) .pytest_cache .mypy_cache .ruff_cache
