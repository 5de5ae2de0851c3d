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


class Role(StrEnum):
    admin = "admin"
    partner = "partner"
    expert = "expert"
    sme = "sme"
    buyer = "buyer"


class OrganisationKind(StrEnum):
    buyer = "buyer"
    partner = "partner"
