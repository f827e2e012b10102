"""Secrets out of everything we write or print: URIs with credentials (and terminal escapes).

A tracking URI may carry ``user:password@`` or a token in its query string (``?token=...``),
given on the command line or through ``MLFLOW_TRACKING_URI``; and library error messages quote the
URL they called. Every URI or message that leaves the process (findings, ``--json``, stdout, the
run's tags, error messages) goes through here. Pure: no I/O.
"""

from __future__ import annotations

import re

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>[^/@\s?#'\"]+)@")
_QUERY_VALUE = re.compile(r"(?P<key>[?&][^=&#\s'\"]+=)(?P<value>[^&#\s'\"]*)")
#: A path with a query string, as urllib3 quotes a request (no scheme, no host).
_PATH = re.compile(r"[^\s'\"<>(]*\?[^\s'\"<>]*")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
#: Terminal colour and cursor sequences (ANSI CSI), which delta-rs and other Rust libraries put in
#: their error text: they garble tags, findings and JSON, and mean nothing off a terminal.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


def redact_uri(uri: str) -> str:
    """``http://ana:pw@host/x?token=t&a=1`` -> ``http://***@host/x?token=***&a=***``: user info
    and every query value are masked (a query can name its secret anything)."""
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", uri)
    if "?" in out:
        head, _, query = out.partition("?")
        out = head + _QUERY_VALUE.sub(lambda m: f"{m['key']}{MASK}", "?" + query)
    return out


def redact_text(text: str) -> str:
    """Every URL inside a message redacted as :func:`redact_uri` does, the query values of bare
    request paths too, and terminal escape sequences removed. urllib3 quotes a path without
    scheme or host (``"GET /?token=t/api/2.0/... HTTP/1.1"``, ``Max retries exceeded with url:
    /?token=t/...``), and MLflow appends its endpoint to the tracking URI, query string and all."""
    out = _URL.sub(lambda m: redact_uri(m.group(0)), _ANSI.sub("", text))
    return _PATH.sub(lambda m: _QUERY_VALUE.sub(lambda q: f"{q['key']}{MASK}", m.group(0)), out)
