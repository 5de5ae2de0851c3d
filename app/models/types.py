"""Constrained field types shared by several domains."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, StringConstraints, WithJsonSchema


def _country(value: str) -> str:
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _any_case(code: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in code)


# The document lists exactly the codes accepted (either case), not merely "two letters".
COUNTRY_PATTERN = "^(?:" + "|".join(_any_case(c.alpha_2) for c in pycountry.countries) + ")$"

CountryCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$"),
    AfterValidator(_country),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 2,
            "maxLength": 2,
            "pattern": COUNTRY_PATTERN,
            "description": "ISO 3166-1 alpha-2 country code (either case).",
            "examples": ["IN"],
        }
    ),
]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$")


def _rfc3339(value: Any) -> Any:
    """Pydantic would also read a number as a Unix time; the contract says RFC 3339 text."""
    if isinstance(value, str) and _RFC3339.match(value):
        return value
    if isinstance(value, str | int | float | bool):
        raise ValueError("expected an RFC 3339 date-time with offset, e.g. 2026-03-12T09:30:00Z")
    return value


def _in_utc_range(value: datetime) -> datetime:
    """An instant that cannot be expressed in UTC (year 1 or 9999 with an offset) is refused."""
    try:
        value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the date-time is out of range once converted to UTC") from exc
    return value


Rfc3339 = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_in_utc_range),
    # Years 0001 and 9999 can fall outside UTC's range with an offset; the schema says so.
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": r"^(?!0001|9999)\d{4}-"}),
]
"""An instant with its offset, as RFC 3339 text only (no Unix numbers)."""

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """Pydantic would also read a number as a Unix time; the contract says `YYYY-MM-DD`."""
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    if isinstance(value, str | int | float | bool):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
"""A calendar date, as `YYYY-MM-DD` text only."""

# Input text is stripped of surrounding whitespace (InputModel), so "not empty" means "holds a
# character other than whitespace" — exactly the characters the stripping removes (Unicode White_Space).
NOT_BLANK = "[^\t\n\x0b\x0c\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True, pattern=NOT_BLANK)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]
CurrentPassword = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1024, strip_whitespace=False),
    Field(
        description="Your password now: required to set a new one of your own (write-only). Wrong answers "
        "count against the account's login throttle."
    ),
]
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=1024, strip_whitespace=False),  # spaces are part of a password
    Field(description="At least 8 characters (1,024 at most).", examples=["correct horse battery staple"]),
]


# ISIC Rev.4 divisions (two-digit codes) as published by the UN Statistics Division.
ISIC_DIVISIONS = frozenset(
    f"{n:02d}"
    for n in [
        *range(1, 4),
        *range(5, 10),
        *range(10, 34),
        35,
        *range(36, 40),
        *range(41, 44),
        *range(45, 48),
        *range(49, 54),
        55,
        56,
        *range(58, 64),
        *range(64, 67),
        68,
        *range(69, 76),
        *range(77, 83),
        84,
        85,
        *range(86, 89),
        *range(90, 94),
        *range(94, 97),
        97,
        98,
        99,
    ]
)
ISIC_SECTIONS = frozenset("ABCDEFGHIJKLMNOPQRSTU")


def _isic(value: str) -> str:
    code = value.strip().upper()
    if len(code) == 1 and code in ISIC_SECTIONS:
        return code
    if code.isdigit() and 2 <= len(code) <= 4 and code[:2] in ISIC_DIVISIONS:
        return code
    raise ValueError(f"{value!r} is not an ISIC Rev.4 code (a section letter A-U, or a 2-4 digit division/group/class)")


ISIC_PATTERN = "^(?:[A-Ua-u]|(?:" + "|".join(sorted(ISIC_DIVISIONS)) + ")[0-9]{0,2})$"

IsicCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4),
    AfterValidator(_isic),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 4,
            "pattern": ISIC_PATTERN,
            "description": "ISIC Rev.4 code: section letter, or division/group/class digits.",
            "examples": ["2219"],
        }
    ),
]

CurrencyCode = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$"),
    AfterValidator(lambda v: _currency(v)),
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(c.alpha_3 for c in pycountry.currencies),
            "description": "ISO 4217 currency code.",
            "examples": ["INR"],
        }
    ),
]


def _currency(value: str) -> str:
    if pycountry.currencies.get(alpha_3=value) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


class Role(StrEnum):
    admin = "admin"
    partner = "partner"
    expert = "expert"
    sme = "sme"
    buyer = "buyer"


class OrganisationKind(StrEnum):
    buyer = "buyer"
    partner = "partner"
