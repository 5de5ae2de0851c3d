"""Constrained field types shared by several domains."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import pycountry
from pydantic import AfterValidator, Field, StringConstraints


def _country(value: str) -> str:
    code = value.upper()
    if pycountry.countries.get(alpha_2=code) is None:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


CountryCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Za-z]{2}$"),
    AfterValidator(_country),
    Field(description="ISO 3166-1 alpha-2 country code.", examples=["IN"]),
]

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]
Password = Annotated[
    str,
    StringConstraints(min_length=8, max_length=1024),
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


IsicCode = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4),
    AfterValidator(_isic),
    Field(description="ISIC Rev.4 code: section letter, or division/group/class digits.", examples=["2219"]),
]

CurrencyCode = Annotated[
    str,
    StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$"),
    AfterValidator(lambda v: _currency(v)),
    Field(description="ISO 4217 currency code.", examples=["INR"]),
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
