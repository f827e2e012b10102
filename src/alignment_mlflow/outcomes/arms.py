"""Each customer's arm (treated or held out): a keyed hash of the id, the same in every engine.

The arm must be decided before the campaign, reproducible by anyone who has the plan, and
independent of the order, batching or engine that read the scores: no RNG state, only a hash of
(project, campaign, customer id). The hash is Spark's own ``xxhash64`` (XXH64 with Spark's
chaining: ``xxhash64(key, id)`` hashes ``key`` with seed 42, then ``id`` with that as the seed),
so a Spark job computes the same arm with a built-in SQL function and no Python UDF; here it is
vectorised with NumPy for integer ids (8 bytes, as Spark hashes a ``bigint``) and string ids
(UTF-8 bytes, grouped by length).

A customer is held out when the unsigned hash is below ``fraction * 2**64``: hashes are uniform,
so each tier's held-out share is its fraction up to binomial noise, which the SRM check of the
outcome expects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

P1 = np.uint64(0x9E3779B185EBCA87)
P2 = np.uint64(0xC2B2AE3D27D4EB4F)
P3 = np.uint64(0x165667B19E3779F9)
P4 = np.uint64(0x85EBCA77C2B2AE63)
P5 = np.uint64(0x27D4EB2F165667C5)
SPARK_SEED = 42
_SIGN = np.uint64(1 << 63)


def campaign_key(project: str, campaign: str) -> int:
    """The signed 64-bit key of a campaign (a ``bigint`` literal in Spark SQL)."""
    digest = hashlib.sha256(f"{project}\0{campaign}".encode()).digest()
    return int.from_bytes(digest[:8], "little", signed=True)


def threshold(fraction: float) -> int:
    """Held out when the unsigned hash is below this: ``floor(fraction * 2**64)``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"holdout fraction {fraction!r} is not within [0, 1]")
    return min(int(fraction * 2.0**64), 2**64 - 1) if fraction < 1 else 2**64


def spark_sql(key: int, id_sql: str, fraction_sql: str) -> str:
    """A Spark SQL boolean: is the customer held out? ``fraction_sql`` yields the tier's
    threshold as a signed ``bigint`` (see :func:`signed_threshold`)."""
    return f"((xxhash64(CAST({key} AS BIGINT), {id_sql}) ^ {-(2**63)}) < {fraction_sql})"


def signed_threshold(fraction: float) -> int:
    """:func:`threshold` in the signed order Spark compares ``bigint``s in (sign bit flipped),
    saturated: a fraction of 1 holds out everyone."""
    t = threshold(fraction)
    return 2**63 - 1 if t >= 2**64 else t - 2**63


def held_out(hashes: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """``hashes`` (uint64) against each row's tier fraction: True where held out."""
    cut = np.array([threshold(float(f)) for f in np.unique(fractions)], dtype=object)
    out = np.zeros(len(hashes), dtype=bool)
    for f, t in zip(np.unique(fractions), cut, strict=True):
        rows = fractions == f
        out[rows] = True if t >= 2**64 else hashes[rows] < np.uint64(t)
    return out


def hash_ids(ids: Sequence[object] | np.ndarray, key: int) -> np.ndarray:
    """Spark's ``xxhash64(CAST(key AS BIGINT), id)`` for each id, as uint64."""
    seed = _hash_long(np.array([key], dtype=np.int64).view(np.uint64), np.uint64(SPARK_SEED))[0]
    values = np.asarray(ids)
    if values.dtype.kind in "iu":
        return _hash_long(values.astype(np.int64).view(np.uint64), seed)
    return _hash_strings([str(v) for v in values], seed)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    out: np.ndarray = (x << np.uint64(r)) | (x >> np.uint64(64 - r))
    return out


def _round(acc: np.ndarray, lane: np.ndarray) -> np.ndarray:
    out: np.ndarray = _rotl(acc + lane * P2, 31) * P1
    return out


def _merge(acc: np.ndarray, val: np.ndarray) -> np.ndarray:
    out: np.ndarray = (acc ^ _round(np.zeros_like(val), val)) * P1 + P4
    return out


def _avalanche(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(33))
    h = h * P2
    h = h ^ (h >> np.uint64(29))
    h = h * P3
    out: np.ndarray = h ^ (h >> np.uint64(32))
    return out


def _hash_long(values: np.ndarray, seed: np.uint64) -> np.ndarray:
    with np.errstate(over="ignore"):
        h = np.full(len(values), seed, dtype=np.uint64) + P5 + np.uint64(8)
        h = h ^ _round(np.zeros_like(values), values)
        h = _rotl(h, 27) * P1 + P4
        return _avalanche(h)


def _hash_strings(texts: list[str], seed: np.uint64) -> np.ndarray:
    data = [t.encode("utf-8") for t in texts]
    lengths = np.fromiter((len(d) for d in data), dtype=np.int64, count=len(data))
    out = np.empty(len(data), dtype=np.uint64)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        block = np.frombuffer(b"".join(data[i] for i in rows), dtype=np.uint8)
        out[rows] = _hash_bytes(block.reshape(len(rows), int(length)), seed)
    return out


def _hash_bytes(rows: np.ndarray, seed: np.uint64) -> np.ndarray:
    """XXH64 of each row of an (n, length) uint8 matrix: 32-byte stripes, 8-byte lanes, then a
    4-byte word and single bytes, as the reference does for any input length."""
    n, length = rows.shape
    with np.errstate(over="ignore"):
        pos = 0
        if length >= 32:
            v1 = np.full(n, seed + P1 + P2, dtype=np.uint64)
            v2 = np.full(n, seed + P2, dtype=np.uint64)
            v3 = np.full(n, seed, dtype=np.uint64)
            v4 = np.full(n, seed - P1, dtype=np.uint64)
            while pos + 32 <= length:
                lanes = _lanes(rows[:, pos : pos + 32], 4)
                v1, v2 = _round(v1, lanes[:, 0]), _round(v2, lanes[:, 1])
                v3, v4 = _round(v3, lanes[:, 2]), _round(v4, lanes[:, 3])
                pos += 32
            h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
            for v in (v1, v2, v3, v4):
                h = _merge(h, v)
        else:
            h = np.full(n, seed + P5, dtype=np.uint64)
        h = h + np.uint64(length)
        while pos + 8 <= length:
            lane = _lanes(rows[:, pos : pos + 8], 1)[:, 0]
            h = _rotl(h ^ _round(np.zeros(n, dtype=np.uint64), lane), 27) * P1 + P4
            pos += 8
        if pos + 4 <= length:
            word = np.ascontiguousarray(rows[:, pos : pos + 4]).view("<u4")[:, 0].astype(np.uint64)
            h = _rotl(h ^ (word * P1), 23) * P2 + P3
            pos += 4
        while pos < length:
            h = _rotl(h ^ (rows[:, pos].astype(np.uint64) * P5), 11) * P1
            pos += 1
        return _avalanche(h)


def _lanes(block: np.ndarray, count: int) -> np.ndarray:
    return np.ascontiguousarray(block).view("<u8").reshape(len(block), count)
