"""The workspace half of the local Databricks: folders, MLflow, and run artifacts.

Mixed into the fake's request handler (``_databricks_fake.py``). What it speaks, and why:

- ``/api/2.0/workspace/{mkdirs,get-status,list}``: a folder tree, so the experiment's parent folder
  has to exist. ``experiments/create`` under a missing folder is refused the way Databricks refuses
  it: 404 ``RESOURCE_DOES_NOT_EXIST`` "Parent directory <p> does not exist." (databricks-demos/
  dbdemos#155); a created experiment becomes an ``MLFLOW_EXPERIMENT`` object in the tree.
- ``/api/2.0/mlflow/*``, ``/api/2.0/preview/mlflow/*`` and ``/api/3.0/mlflow/*``: forwarded to the
  session's real ``mlflow server``. Its artifact URIs (``mlflow-artifacts:/<exp>/<run>/artifacts``)
  are rewritten into the form a workspace returns (``dbfs:/databricks/mlflow-tracking/<exp>/<run>/
  artifacts``), so MLflow's client picks its Databricks artifact repository exactly as against a
  workspace.
- The two ways that repository moves bytes, both stored in the mlflow server's own artifact store
  (so ``artifacts/list`` and the server's UI see them):
  the Files API under ``/WorkspaceInternal/Mlflow/Artifacts/<exp>/Runs/<run>/...`` (MLflow's
  ``DatabricksSdkArtifactRepository``, tried first), and ``artifacts/credentials-for-{write,read}``
  handing out ``AWS_PRESIGNED_URL`` credentials whose signed URI points back at this server
  (``/_presigned/...``, no bearer token, like a cloud URL) for ``DatabricksArtifactRepository``,
  MLflow's fallback (forced with ``MLFLOW_DISABLE_DATABRICKS_SDK_FOR_RUN_ARTIFACTS=true``).
- ``/api/2.0/preview/scim/v2/Me``: the current user, with the ``X-Databricks-Org-Id`` header the
  SDK reads the workspace id from.
- ``GET /api/2.0/serving-endpoints/{name}/metrics``: a serving endpoint's metrics export, the
  Prometheus text the test put in ``ws.serving_metrics[name]`` (recorded shape:
  ``tests/fixtures/serving/endpoint_metrics.prom``), as ``text/plain``; an unknown endpoint is 404
  ``RESOURCE_DOES_NOT_EXIST`` as Databricks answers it.
"""

from __future__ import annotations

import http.client
import json
import posixpath
import re
import urllib.parse
from typing import Any

USER = "tester@example.com"
WORKSPACE_ID = "1234567890123456"
_TRACKING_PREFIX = "/WorkspaceInternal/Mlflow/Artifacts/"
_MLFLOW_ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
_SIGNATURE = "fake-signature"


class WorkspaceRoutes:
    """Handler mixin; the handler provides ``ws`` (the FakeWorkspace) and the send helpers."""

    ws: Any
    command: str
    headers: Any

    # provided by the handler
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        raise NotImplementedError

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def _error(self, status: int, code: str, message: str) -> None:
        raise NotImplementedError

    def _body(self) -> bytes:
        raise NotImplementedError

    # -- workspace tree ---------------------------------------------------------------------
    def _workspace_api(self, op: str, query: dict[str, str]) -> None:
        body = json.loads(self._body() or b"{}") if self.command == "POST" else {}
        path = posixpath.normpath(query.get("path") or body.get("path") or "/")
        tree = self.ws.objects
        if op == "mkdirs":
            if not path.startswith("/"):
                self._error(400, "INVALID_PARAMETER_VALUE", f"Path ({path}) must be absolute")
                return
            walk = "/"
            for part in path.strip("/").split("/"):
                walk = posixpath.join(walk, part)
                kind = tree.get(walk, ("DIRECTORY", 0))[0]
                if kind != "DIRECTORY":
                    self._error(
                        400,
                        "RESOURCE_ALREADY_EXISTS",
                        f"Cannot create directory {path}: {walk} is a {kind.lower()}",
                    )
                    return
                tree.setdefault(walk, ("DIRECTORY", len(tree) + 1))
            self._json(200, {})
        elif op == "get-status":
            if path not in tree:
                self._error(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({path}) doesn't exist.")
                return
            kind, oid = tree[path]
            self._json(200, {"path": path, "object_type": kind, "object_id": oid})
        elif op == "list":
            children = [
                {"path": p, "object_type": k, "object_id": i}
                for p, (k, i) in sorted(tree.items())
                if p != path and posixpath.dirname(p) == path
            ]
            self._json(200, {"objects": children})
        else:
            self._error(404, "ENDPOINT_NOT_FOUND", f"no workspace endpoint {op}")

    def _scim_me(self) -> None:
        body = json.dumps({"userName": USER, "id": "42", "active": True}).encode()
        self._send(
            200, body, {"Content-Type": "application/json", "X-Databricks-Org-Id": WORKSPACE_ID}
        )

    def _serving_endpoint(self, rest: str) -> None:
        name, _, op = urllib.parse.unquote(rest).partition("/")
        if self.command != "GET" or op != "metrics":
            self._error(404, "ENDPOINT_NOT_FOUND", f"no serving-endpoints endpoint {op!r}")
            return
        if name not in self.ws.serving_metrics:
            self._error(
                404, "RESOURCE_DOES_NOT_EXIST", f"Endpoint with name '{name}' does not exist."
            )
            return
        body = self.ws.serving_metrics[name].encode("utf-8")
        self._send(200, body, {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    # -- MLflow -----------------------------------------------------------------------------
    def _upstream(
        self, method: str, path: str, body: bytes | None = None, ctype: str | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        if self.ws.mlflow_upstream is None:
            raise RuntimeError("this fake workspace has no mlflow server (use databricks_mlflow)")
        conn = http.client.HTTPConnection(
            self.ws.mlflow_upstream.removeprefix("http://"), timeout=60
        )
        headers = {"Content-Type": ctype} if ctype else {}
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()

    def _mlflow_api(self, path: str, query: str) -> None:
        body = self._body()
        path = path.replace("/api/2.0/preview/mlflow/", "/api/2.0/mlflow/")
        op = path.removeprefix("/api/2.0/mlflow/")
        if op in ("artifacts/credentials-for-write", "artifacts/credentials-for-read"):
            self._credentials(json.loads(body or b"{}"), write=op.endswith("write"))
            return
        if op == "experiments/create":
            name = str(json.loads(body or b"{}").get("name", ""))
            parent = posixpath.dirname(name.rstrip("/")) or "/"
            if name.startswith("/") and parent not in self.ws.objects:
                self._error(
                    404, "RESOURCE_DOES_NOT_EXIST", f"Parent directory {parent} does not exist."
                )
                return
        status, data, headers = self._upstream(
            self.command,
            path + (f"?{query}" if query else ""),
            body if self.command != "GET" else None,
            self.headers.get("Content-Type"),
        )
        data = data.replace(b'"mlflow-artifacts:/', b'"dbfs:/databricks/mlflow-tracking/')
        if op == "experiments/create" and status == 200:
            exp_id = int(json.loads(data)["experiment_id"])
            self.ws.objects[name] = ("MLFLOW_EXPERIMENT", exp_id)
        self._send(status, data, {"Content-Type": headers.get("content-type", "application/json")})

    def _artifact_root(self, run_id: str) -> str:
        """``<exp>/<run>/artifacts`` of a run, as the mlflow server stores it."""
        status, data, _ = self._upstream("GET", f"/api/2.0/mlflow/runs/get?run_id={run_id}")
        if status != 200:
            raise LookupError(run_id)
        uri = json.loads(data)["run"]["info"]["artifact_uri"]
        return str(uri).removeprefix("mlflow-artifacts:").strip("/")

    def _credentials(self, body: dict[str, Any], *, write: bool) -> None:
        run_id = str(body.get("run_id", ""))
        try:
            root = self._artifact_root(run_id)
        except LookupError:
            self._error(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{run_id}' not found.")
            return
        paths = body.get("path") or []
        infos = [
            {
                "run_id": run_id,
                "path": p,
                "signed_uri": f"{self.ws.host}/_presigned/{root}/{urllib.parse.quote(p)}"
                f"?X-Amz-Signature={_SIGNATURE}&write={int(write)}",
                "type": "AWS_PRESIGNED_URL",
                "headers": [],
            }
            for p in (paths if isinstance(paths, list) else [paths])
        ]
        self._json(200, {"credential_infos": infos})

    def _presigned(self, rel: str, query: dict[str, str]) -> None:
        """A "cloud storage" URL: the signature is checked, the bearer token is not."""
        body = self._body()
        if query.get("X-Amz-Signature") != _SIGNATURE:
            self._send(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
            return
        if self.command == "PUT" and query.get("write") != "1":
            self._send(403, b"<Error><Code>AccessDenied</Code></Error>")
            return
        self._proxy_artifact(urllib.parse.unquote(rel), body)

    def _proxy_artifact(self, rel: str, body: bytes) -> None:
        target = f"{_MLFLOW_ARTIFACTS}/{urllib.parse.quote(rel)}"
        if self.command == "PUT":
            status, data, _ = self._upstream("PUT", target, body, "application/octet-stream")
            self._send(204 if status == 200 else status, b"" if status == 200 else data)
            return
        status, data, _ = self._upstream("GET", target)
        if status != 200:
            self._error(404, "NOT_FOUND", f"The file being accessed is not found: {rel}")
            return
        self._send(200, data, {"Content-Type": "application/octet-stream"})

    # -- run artifacts through the Files API ------------------------------------------------
    @staticmethod
    def tracking_artifact(path: str) -> str | None:
        """``<exp>/<run>/<rest>`` for a Files API path under the run artifact root, else None."""
        if not path.startswith(_TRACKING_PREFIX):
            return None
        m = re.match(r"([^/]+)/Runs/([^/]+)(/.*)?$", path[len(_TRACKING_PREFIX) :])
        if not m:
            return None
        return f"{m.group(1)}/{m.group(2)}{m.group(3) or ''}".rstrip("/")

    def _tracking_file(self, rel: str) -> None:
        self._proxy_artifact(rel, self._body())

    def _tracking_dir(self, path: str, rel: str) -> None:
        status, data, _ = self._upstream(
            "GET", f"{_MLFLOW_ARTIFACTS}?path={urllib.parse.quote(rel)}"
        )
        files = json.loads(data).get("files", []) if status == 200 else []
        if not files:
            self._error(404, "NOT_FOUND", f"The directory being accessed is not found: {path}")
            return
        if self.command == "HEAD":
            self._send(200)
            return
        contents = [
            {
                "path": f"{path.rstrip('/')}/{posixpath.basename(f['path'])}",
                "name": posixpath.basename(f["path"]),
                "is_directory": bool(f.get("is_dir")),
                "file_size": None if f.get("is_dir") else int(f.get("file_size", 0)),
            }
            for f in files
        ]
        self._json(200, {"contents": contents})
