"""Which columns are PII or protected attributes, from their names and the framework's flags.

Names are split into tokens (``customerEmailAddress`` -> customer, email, address) and matched as
whole tokens or token pairs, never as substrings, so ``gender_neutral_score`` style false hits stay
rare. Only names, types and roles leave here: never a column's values.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alignment_mlflow.findings.document import ColumnInfo, FindingsView


def tokenize_name(name: str) -> tuple[str, ...]:
    """``customerEmailAddress`` / ``customer_email-address`` -> (customer, email, address)."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([A-Za-z])([0-9])", r"\1_\2", s)
    s = re.sub(r"([0-9])([A-Za-z])", r"\1_\2", s)
    return tuple(t for t in re.split(r"[^a-z0-9]+", s.lower()) if t)


_PII_TOKENS = {
    "email": "email",
    "emailaddress": "email",
    "fullname": "name",
    "firstname": "name",
    "lastname": "name",
    "surname": "name",
    "forename": "name",
    "phone": "phone",
    "telephone": "phone",
    "tel": "phone",
    "phonenumber": "phone",
    "ssn": "ssn",
    "address": "address",
    "street": "address",
    "zip": "address",
    "zipcode": "address",
    "postcode": "address",
    "postal": "address",
    "dob": "date_of_birth",
    "birthdate": "date_of_birth",
    "birthday": "date_of_birth",
    "passport": "passport",
    "iban": "bank_account",
}
_PII_PAIRS = {
    ("e", "mail"): "email",
    ("social", "security"): "ssn",
    ("ip", "address"): "ip_address",
    ("credit", "card"): "credit_card",
    ("card", "number"): "credit_card",
    ("date", "birth"): "date_of_birth",
    ("of", "birth"): "date_of_birth",
    ("tax", "id"): "tax_id",
    ("mobile", "number"): "phone",
    ("mobile", "phone"): "phone",
    ("mobile", "no"): "phone",
}
_NAME_QUALIFIERS = {
    "full",
    "first",
    "last",
    "middle",
    "given",
    "family",
    "customer",
    "user",
    "contact",
    "client",
    "person",
    "member",
    "holder",
    "maiden",
    "nick",
    "account",
}
_PROTECTED_TOKENS = {
    "age": "age",
    "gender": "gender",
    "sex": "gender",
    "race": "race",
    "racial": "race",
    "ethnicity": "ethnicity",
    "ethnic": "ethnicity",
    "religion": "religion",
    "religious": "religion",
    "nationality": "nationality",
    "citizenship": "nationality",
    "marital": "marital_status",
    "disability": "disability",
    "disabled": "disability",
    "pregnancy": "pregnancy",
    "pregnant": "pregnancy",
}
_PROTECTED_PAIRS = {("sexual", "orientation"): "sexual_orientation"}


def _pairs(tokens: tuple[str, ...]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(tokens))


def pii_kind_from_name(name: str) -> str | None:
    tokens = tokenize_name(name)
    for pair, kind in _PII_PAIRS.items():
        if pair in _pairs(tokens):
            return kind
    for t in tokens:
        if t in _PII_TOKENS:
            return _PII_TOKENS[t]
    if tokens == ("name",) or tokens == ("mobile",):
        return "name" if tokens == ("name",) else "phone"
    for a, b in _pairs(tokens):
        if b == "name" and a in _NAME_QUALIFIERS:
            return "name"
    return None


def protected_kind_from_name(name: str) -> str | None:
    tokens = tokenize_name(name)
    for pair, kind in _PROTECTED_PAIRS.items():
        if pair in _pairs(tokens):
            return kind
    for t in tokens:
        if t in _PROTECTED_TOKENS:
            return _PROTECTED_TOKENS[t]
    return None


def _role(view: FindingsView, col: ColumnInfo) -> str | None:
    """Why a column is not a candidate feature, or None when it is one."""
    if col.name in view.identifier_columns or col.inferred_type == "identifier":
        return "identifier"
    if col.name == view.target_column:
        return "target"
    if col.name in view.datetime_columns:
        return "timestamp"
    return None


def pii_columns(view: FindingsView) -> list[dict[str, Any]]:
    out = []
    for col in view.columns.values():
        reasons = []
        if col.pii_detected or col.pii_types or "pii" in col.quality_issue_kinds:
            kinds = ", ".join(col.pii_types) or "pii"
            reasons.append(f"flagged by the framework ({kinds})")
        kind = pii_kind_from_name(col.name)
        if kind:
            reasons.append(f"name suggests {kind}")
        if reasons:
            out.append(
                {
                    "column": col.name,
                    "inferred_type": col.inferred_type,
                    "role": _role(view, col) or "feature",
                    "why": reasons,
                }
            )
    return out


def protected_columns(view: FindingsView) -> list[dict[str, Any]]:
    out = []
    for col in view.columns.values():
        kind = protected_kind_from_name(col.name)
        if kind:
            out.append(
                {
                    "column": col.name,
                    "attribute": kind,
                    "inferred_type": col.inferred_type,
                    "role": _role(view, col) or "feature",
                }
            )
    return out
