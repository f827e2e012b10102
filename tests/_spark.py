"""Spark sessions for the tests, shared by the whole test session: a classic ``local[2]`` session
with Delta, a local Spark Connect server with Delta and a client session on it, and the
serverless-like behaviour of that Connect session.

Delta's jars come from ``make jars`` (Maven Central, into ``.jars/``); they are passed as files,
never ``--packages``. The Connect server is a separate JVM (pyspark's own ``spark-submit`` of
``SparkConnectServer``) on a free loopback port, stopped by its pid at the end of the session.

pyspark chooses classic or Connect implementations of ``pyspark.sql.functions`` (and of
``SparkSession.getActiveSession``) from the ``SPARK_CONNECT_MODE_ENABLED`` environment variable,
per call: ``connect_mode`` sets it for a Connect test and ``classic_mode`` removes it, so both
kinds of session live in one pytest process.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _process import free_port, port_open, stop_group, wait_ready

REPO = Path(__file__).parent.parent
JARS = REPO / ".jars"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
CONNECT_MODE = "SPARK_CONNECT_MODE_ENABLED"

#: What serverless compute lets a session read or change (Databricks, "Configure Spark properties
#: for serverless notebooks and jobs"); everything else raises, as mlflow/mlflow#16134 reports for
#: ``spark.conf.get``.
SERVERLESS_CONFS = frozenset(
    {
        "spark.sql.legacy.timeParserPolicy",
        "spark.sql.session.timeZone",
        "spark.sql.shuffle.partitions",
        "spark.sql.ansi.enabled",
        "spark.sql.files.maxPartitionBytes",
        "spark.databricks.execution.timeout",
    }
)


def delta_jars() -> list[Path]:
    """The Delta jars of the delta-spark release installed (``make jars`` fetches them)."""
    version = importlib.metadata.version("delta-spark")
    jars = [JARS / f"delta-spark_2.13-{version}.jar", JARS / f"delta-storage-{version}.jar"]
    missing = [j.name for j in jars if not j.is_file()]
    if missing:
        pytest.fail(
            f"Delta jars missing from {JARS} ({', '.join(missing)}): run `make jars` (Maven "
            "Central) with DELTA_VERSION matching the installed delta-spark " + version,
            pytrace=False,
        )
    return jars


def delta_confs(warehouse: Path) -> dict[str, str]:
    return {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.catalogImplementation": "in-memory",
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.ui.enabled": "false",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        # Small local tables: fewer tasks, no MERGE source materialisation (CI has 2 cores).
        "spark.sql.shuffle.partitions": "1",
        "spark.default.parallelism": "2",
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.databricks.delta.merge.materializeSource": "none",
        # The JIT's first tier only: the tests' JVMs live minutes and run each query a few
        # times, so C2's compilations cost more CPU than they save (test_plan_spark.py: 146 s
        # -> 96 s wall on the shared 2-core machine; SerialGC on top gained nothing).
        "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
    }


@pytest.fixture(scope="session")
def classic_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A classic ``local[2]`` session with Delta's extension and catalog."""
    from pyspark.sql import SparkSession

    jars = delta_jars()
    os.environ.pop(CONNECT_MODE, None)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master("local[2]").appName("alignment-mlflow-tests")
    builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    for key, value in delta_confs(tmp_path_factory.mktemp("classic-warehouse")).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    yield session
    session.stop()


class ConnectServer:
    """A local Spark Connect server (its own JVM) with Delta, on a free loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"sc://127.0.0.1:{self.port}"
        self.log = root / "connect-server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 180.0) -> ConnectServer:
        import pyspark

        home = Path(pyspark.__file__).parent
        confs = {
            **delta_confs(self.root / "warehouse"),
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.connect.grpc.binding.address": "127.0.0.1",
        }
        cmd = [str(home / "bin" / "spark-submit"), "--class", CONNECT_SERVER]
        cmd += ["--master", "local[2]", "--name", "alignment-mlflow-connect-tests"]
        cmd += ["--jars", ",".join(str(j) for j in delta_jars())]
        for key, value in confs.items():
            cmd += ["--conf", f"{key}={value}"]
        env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable,
               "SPARK_LOCAL_IP": "127.0.0.1"}  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                start_new_session=True,
            )  # fmt: skip
        if wait_ready(self.proc, lambda: port_open(self.port), timeout, every=0.5):
            return self
        tail = self.log.read_text(errors="replace")[-3000:]
        self.stop()
        pytest.fail(f"Spark Connect server did not start on {self.url}:\n{tail}", pytrace=False)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        stop_group(self.proc, signal.SIGTERM, grace=30)


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    server = ConnectServer(tmp_path_factory.mktemp("spark-connect")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def connect_spark(connect_server: ConnectServer) -> Iterator[Any]:
    """A Spark Connect client session on the local server (what serverless and standard-access
    compute give a job)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    session = RemoteSparkSession.builder.remote(connect_server.url).getOrCreate()
    yield session
    with contextlib.suppress(Exception):
        session.stop()


@pytest.fixture
def classic_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONNECT_MODE, raising=False)


@pytest.fixture
def connect_mode(monkeypatch: pytest.MonkeyPatch, connect_spark: Any) -> None:
    """pyspark's functions and active session resolve to their Connect implementations, and the
    Connect session is the active one (as on serverless, where the runtime made it)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    monkeypatch.setenv(CONNECT_MODE, "1")
    RemoteSparkSession._set_default_and_active_session(connect_spark)


@pytest.fixture
def serverless_mode(monkeypatch: pytest.MonkeyPatch, connect_mode: None) -> None:
    """The Connect session behaves as serverless: ``spark.conf.get/set/unset`` of a key outside
    the allow-list raises (mlflow/mlflow#16134: "session.conf.get() is unsupported and raises an
    AnalysisException"). It wraps pyspark's Connect ``RuntimeConf``, so every route to the conf
    (``spark.conf``, ``df.sparkSession.conf``) is covered; pyspark's internal reads are served."""
    from pyspark.errors import AnalysisException
    from pyspark.sql.connect.conf import RuntimeConf

    def guard(name: str, original: Any) -> Any:
        def method(self: Any, key: str, *args: Any, **kwargs: Any) -> Any:
            # pyspark's own client reads a few confs it needs (e.g. for a literal's type); only
            # calls from outside pyspark (ours) are judged against the allow-list.
            caller = str(sys._getframe(1).f_globals.get("__name__", ""))
            if key not in SERVERLESS_CONFS and not caller.startswith("pyspark."):
                raise AnalysisException(
                    f"[CONFIG_NOT_AVAILABLE] Configuration {key} is not available. SQLSTATE: 42K0I"
                )
            return original(self, key, *args, **kwargs)

        return method

    for name in ("get", "set", "unset", "isModifiable"):
        monkeypatch.setattr(RuntimeConf, name, guard(name, getattr(RuntimeConf, name)))
