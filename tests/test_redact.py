"""Credentials in URIs never leave the process: the pure redaction, property-tested."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from alignment_mlflow.redact import redact_text, redact_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://ana:pw@host:5000", "http://***@host:5000"),
        ("https://token@host/path", "https://***@host/path"),
        ("http://host:5000/x?token=abc&b=1", "http://host:5000/x?token=***&b=***"),
        ("postgresql://u:p@db/mlflow", "postgresql://***@db/mlflow"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("databricks://prod", "databricks://prod"),
        ("databricks", "databricks"),
        ("http://host:5000", "http://host:5000"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


def test_urls_inside_messages_are_redacted() -> None:
    msg = "API request to http://ana:pw@h:1/api/2.0/mlflow/runs/create?x=secret failed: 'boom'"
    assert redact_text(msg) == (
        "API request to http://***@h:1/api/2.0/mlflow/runs/create?x=*** failed: 'boom'"
    )


secret = st.text(alphabet=st.characters(categories=["L", "N"]), min_size=4, max_size=20)


@given(user=secret, password=secret, token=secret)
@example(user="0000", password="http", token="0000")  # a secret spelled like the scheme (CI found)
@example(user="0000", password="0000", token="http")
def test_no_secret_survives(user: str, password: str, token: str) -> None:
    # The whole output is known: nothing of the secrets is left, however they are spelled (a
    # "not in" check failed on secrets that are also words of the message, like "http").
    uri = f"https://{user}:{password}@example.com:443/mlflow?access_token={token}"
    out = redact_text(f"failed calling {uri}: timeout")
    assert out == "failed calling https://***@example.com:443/mlflow?access_token=*** timeout"


def test_terminal_colour_escapes_are_removed_from_messages() -> None:
    """delta-rs colours parts of its error text; tags, findings and --json get plain text."""
    text = (
        "Generic DeltaTable error: \x1b[1m\x1b[31mversion 3\x1b[0m already exists at s3://k:s@b/t"
    )
    assert redact_text(text) == "Generic DeltaTable error: version 3 already exists at s3://***@b/t"


def test_bare_request_paths_lose_their_query_values() -> None:
    """urllib3 quotes the request path alone, with the tracking URI's query string in it."""
    text = (
        'http://127.0.0.1:5000 "GET /?token=tok-SECRET/api/2.0/mlflow/runs/get&run_id=1 '
        'HTTP/1.1" 500 51; Max retries exceeded with url: /?token=tok-SECRET/api (Caused by x)'
    )
    assert redact_text(text) == (
        'http://127.0.0.1:5000 "GET /?token=***&run_id=*** HTTP/1.1" 500 51; '
        "Max retries exceeded with url: /?token=*** (Caused by x)"
    )
