"""One storage contract, run against every backend: local, memory, DBFS and Volumes (SDK)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from _databricks_fake import FakeWorkspace
from alignment_mlflow.findings.storage import (
    ConflictError,
    LocalStore,
    MemoryStore,
    Store,
    sha256,
    store_for,
)


class StoreContract:
    """Subclasses provide ``store`` and ``folder`` (a path that exists and is empty)."""

    @pytest.fixture
    def setup(self) -> tuple[Store, str]:
        raise NotImplementedError

    def put(self, store: Store, path: str, data: bytes) -> None:
        store.write_bytes(path, data, expected_sha256=None)

    def test_write_then_read(self, setup: tuple[Store, str]) -> None:
        store, folder = setup
        path = store.join(folder, "a_findings.yaml")
        self.put(store, path, b"x: 1\n")
        assert store.read_bytes(path) == b"x: 1\n"

    def test_stat_and_list(self, setup: tuple[Store, str]) -> None:
        store, folder = setup
        self.put(store, store.join(folder, "b.yaml"), b"12345")
        self.put(store, store.join(folder, "a.yaml"), b"1")
        entry = store.stat(store.join(folder, "b.yaml"))
        assert entry.size == 5
        assert not entry.is_dir
        names = [e.name for e in store.list(folder) if e.name.endswith(".yaml")]
        assert names == ["a.yaml", "b.yaml"]
        assert store.stat(folder).is_dir

    def test_missing_file_is_file_not_found(self, setup: tuple[Store, str]) -> None:
        store, folder = setup
        with pytest.raises(FileNotFoundError):
            store.read_bytes(store.join(folder, "nope.yaml"))
        with pytest.raises(FileNotFoundError):
            store.stat(store.join(folder, "nope.yaml"))

    def test_compare_and_swap(self, setup: tuple[Store, str]) -> None:
        store, folder = setup
        path = store.join(folder, "c.yaml")
        self.put(store, path, b"v1")
        store.write_bytes(path, b"v2", expected_sha256=sha256(b"v1"))
        assert store.read_bytes(path) == b"v2"
        with pytest.raises(ConflictError):
            store.write_bytes(path, b"v3", expected_sha256=sha256(b"v1"))
        assert store.read_bytes(path) == b"v2"

    def test_large_file_round_trips(self, setup: tuple[Store, str]) -> None:
        store, folder = setup
        path = store.join(folder, "big.yaml")
        data = bytes(range(256)) * 9000  # > 2 MB: several DBFS blocks
        self.put(store, path, data)
        assert store.read_bytes(path) == data


class TestLocalStore(StoreContract):
    @pytest.fixture
    def setup(self, tmp_path: Path) -> tuple[Store, str]:
        return LocalStore(), str(tmp_path)

    def test_previous_content_is_kept_as_bak(self, tmp_path: Path) -> None:
        store, path = LocalStore(), str(tmp_path / "x_findings.yaml")
        self.put(store, path, b"old")
        self.put(store, path, b"new")
        assert (tmp_path / "x_findings.yaml.bak").read_bytes() == b"old"

    def test_crash_before_rename_leaves_the_original(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from alignment_mlflow.findings.storage import local

        store, path = LocalStore(), tmp_path / "x_findings.yaml"
        self.put(store, str(path), b"original")
        real_replace = local.os.replace

        def crash(src: str, dst: Any) -> None:
            if str(dst) == str(path):
                raise OSError("injected crash between temp write and rename")
            real_replace(src, dst)

        monkeypatch.setattr(local.os, "replace", crash)
        with pytest.raises(OSError, match="injected"):
            store.write_bytes(str(path), b"new", expected_sha256=None)
        assert path.read_bytes() == b"original"
        assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def setup(self) -> tuple[Store, str]:
        return MemoryStore(), "/findings"

    def put(self, store: Store, path: str, data: bytes) -> None:
        store.write_bytes(path, data, expected_sha256=None)


class TestDbfsStore(StoreContract):
    @pytest.fixture
    def setup(self, databricks_workspace: FakeWorkspace) -> tuple[Store, str]:
        databricks_workspace.local("dbfs:/findings").mkdir(parents=True)
        return store_for("dbfs:/findings", client=databricks_workspace.client())

    def test_fuse_path_is_read_through_the_dbfs_api(
        self, databricks_workspace: FakeWorkspace
    ) -> None:
        store, path = store_for("/dbfs/findings/x.yaml", client=databricks_workspace.client())
        assert path == "dbfs:/findings/x.yaml"
        assert type(store).__name__ == "DatabricksStore"


class TestVolumesStore(StoreContract):
    @pytest.fixture
    def setup(self, databricks_workspace: FakeWorkspace) -> tuple[Store, str]:
        databricks_workspace.local("/Volumes/main/churn/findings").mkdir(parents=True)
        return store_for("/Volumes/main/churn/findings", client=databricks_workspace.client())


def test_on_a_cluster_fuse_paths_are_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "15.4")
    store, path = store_for("dbfs:/findings/x.yaml")
    assert isinstance(store, LocalStore)
    assert path == "/dbfs/findings/x.yaml"
    store, path = store_for("/Volumes/main/s/v/x.yaml")
    assert isinstance(store, LocalStore)
    assert path == "/Volumes/main/s/v/x.yaml"


def test_building_a_databricks_store_does_no_io() -> None:
    store, path = store_for("dbfs:/x")  # no credentials anywhere: must not fail yet
    assert path == "dbfs:/x"
    assert type(store).__name__ == "DatabricksStore"
