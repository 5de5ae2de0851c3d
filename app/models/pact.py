"""PACT v3 (WBCSD Technical Specifications for PCF Data Exchange): the footprints issued to
buyers' PACT software, the callbacks waiting for the worker, and the wire shapes of `/pact`.

The wire models use PACT's own camelCase names; they are written from the specification's
field list, not generated from it. Optional fields left unset are not sent (`None` is dropped
when rendering), since PACT forbids `null` for an absent value.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.base import TIMESTAMP
from app.models.webhooks import delivery_state

SPEC_VERSION = "3.0.0"

EVENT_CREATED = "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3"
EVENT_FULFILLED = "org.wbcsd.pact.ProductFootprint.RequestFulfilledEvent.3"
EVENT_REJECTED = "org.wbcsd.pact.ProductFootprint.RequestRejectedEvent.3"
EVENT_PUBLISHED = "org.wbcsd.pact.ProductFootprint.PublishedEvent.3"


class PactCode(StrEnum):
    """PACT's error codes."""

    BadRequest = "BadRequest"
    AccessDenied = "AccessDenied"
    TokenExpired = "TokenExpired"
    NotFound = "NotFound"
    InternalError = "InternalError"
    NotImplemented = "NotImplemented"


class FootprintStatus(StrEnum):
    """`Active`, or `Deprecated` once superseded."""

    Active = "Active"
    Deprecated = "Deprecated"


# --- Tables


class PactFootprint(SQLModel, table=True):
    """A footprint as issued: its id, content and status stay as first issued. When the
    enterprise's figures for a period change, a new footprint is issued (its content hash is
    part of its id) and the earlier one is marked deprecated."""

    __tablename__ = "pact_footprints"

    id: UUID = SQLField(primary_key=True, description="uuid5 of enterprise, reference period and content hash.")
    enterprise_id: UUID = SQLField(foreign_key="enterprises.id", index=True, ondelete="CASCADE")
    period_start: date
    period_end: date
    content_hash: str = SQLField(max_length=64)
    body: dict[str, Any] = SQLField(sa_type=JSONB, description="The ProductFootprint without id, created, status.")
    product_keys: list[str] = SQLField(sa_type=ARRAY(sa.String(300)), description="productIds, lower case.")
    company_keys: list[str] = SQLField(sa_type=ARRAY(sa.String(300)), description="companyIds, lower case.")
    classification_keys: list[str] = SQLField(sa_type=ARRAY(sa.String(300)))
    geography: str = SQLField(max_length=2, description="The country, lower case.")
    validity_start: datetime = SQLField(sa_type=TIMESTAMP)
    validity_end: datetime = SQLField(sa_type=TIMESTAMP)
    preceding_ids: list[UUID] = SQLField(sa_type=ARRAY(sa.Uuid()), default_factory=list)
    created_at: datetime = SQLField(sa_type=TIMESTAMP)
    deprecated_at: datetime | None = SQLField(default=None, sa_type=TIMESTAMP)


OUTBOX = sa.Table(
    "pact_outbox",
    SQLModel.metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("recipient", sa.String(2048), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("request_id", sa.String(100), nullable=True),
    *delivery_state(),
    sa.Index("ix_pact_outbox_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
)
"""Events answering a buyer's request, waiting for the delivery worker (app/services/pact_delivery.py)."""


# --- Wire models


class PactError(BaseModel):
    """PACT's error body (every error under `/pact` but the token endpoint's)."""

    code: PactCode = Field(description="PACT's error code.")
    message: str = Field(description="What went wrong, for people.")


class OpenIdConfiguration(BaseModel):
    """What a PACT client discovers before asking for a token."""

    issuer: str
    token_endpoint: str = Field(description="Absolute URL of `POST /pact/auth/token`.")
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    response_types_supported: list[str]
    scopes_supported: list[str]


class PactTokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int


class EmissionFactorSource(BaseModel):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)


class CarbonFootprint(BaseModel):
    """The figures of a footprint, per declared unit (decimals as strings)."""

    declaredUnitOfMeasurement: str
    declaredUnitAmount: str
    productMassPerDeclaredUnit: str
    referencePeriodStart: datetime
    referencePeriodEnd: datetime
    geographyCountry: str | None = None
    boundaryProcessesDescription: str | None = None
    pcfExcludingBiogenicUptake: str
    pcfIncludingBiogenicUptake: str
    fossilGhgEmissions: str
    fossilCarbonContent: str
    packagingEmissionsIncluded: bool | None = None
    ccsTechnologicalCO2CaptureIncluded: bool | None = None
    ipccCharacterizationFactors: list[str]
    crossSectoralStandards: list[str]
    exemptedEmissionsPercent: str
    exemptedEmissionsDescription: str | None = None
    allocationRulesDescription: str | None = None
    secondaryEmissionFactorSources: list[EmissionFactorSource] | None = None
    primaryDataShare: str | None = None


class ProductFootprint(BaseModel):
    """A product carbon footprint: here, an enterprise's emissions per unit of its output over a
    reporting period (see docs/pact.md for what it covers)."""

    id: UUID
    specVersion: str
    precedingPfIds: list[UUID] | None = None
    created: datetime
    status: FootprintStatus
    validityPeriodStart: datetime
    validityPeriodEnd: datetime
    companyName: str = Field(min_length=1)
    companyIds: list[str] = Field(min_length=1)
    productDescription: str
    productIds: list[str] = Field(min_length=1)
    productClassifications: list[str] | None = None
    productNameCompany: str = Field(min_length=1)
    comment: str | None = None
    pcf: CarbonFootprint


class FootprintList(BaseModel):
    data: list[ProductFootprint]


class FootprintOne(BaseModel):
    data: ProductFootprint


# --- Events (CloudEvents 1.0, structured mode)


class PactGrantType(StrEnum):
    client_credentials = "client_credentials"


class PactTokenRequest(BaseModel):
    """The PACT token request (form-encoded): client credentials, the API client's id and secret
    in HTTP Basic or in the two optional fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"grant_type": "client_credentials"}]})

    grant_type: PactGrantType
    client_id: str | None = Field(default=None, description="Instead of HTTP Basic.")
    client_secret: str | None = Field(default=None, description="Instead of HTTP Basic.")


class CloudEvent(BaseModel):
    """A PACT event: CloudEvents 1.0 in structured mode. `type` is one of
    `org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3`, `…PublishedEvent.3`,
    `…RequestFulfilledEvent.3` or `…RequestRejectedEvent.3`; `data` depends on it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "specversion": "1.0",
                    "id": "5f1c7c4e-2b7a-4c61-9d8e-0c2f8e1d4a10",
                    "source": "https://pact.buyer.example",
                    "time": "2026-03-01T09:30:00Z",
                    "type": "org.wbcsd.pact.ProductFootprint.RequestCreatedEvent.3",
                    "data": {"productId": ["urn:score4climate:product:0190a5d2-7c1e-7b3a-9f00-1a2b3c4d5e6f"]},
                }
            ]
        },
    )

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=500)
    source: str = Field(min_length=1, max_length=2048)
    type: str = Field(min_length=1, max_length=200)
    time: datetime
    data: dict[str, Any]


class FootprintCriteria(BaseModel):
    """What a buyer asks for: the list filters (each list matches any of its values)."""

    model_config = ConfigDict(extra="allow")

    productId: list[str] | None = None
    companyId: list[str] | None = None
    geography: list[str] | None = None
    classification: list[str] | None = None
    validOn: datetime | None = None
    validAfter: datetime | None = None
    validBefore: datetime | None = None
    status: str | None = None
    comment: str | None = None


class PublishedData(BaseModel):
    model_config = ConfigDict(extra="allow")

    pfIds: list[UUID] = Field(min_length=1)


class AnswerData(BaseModel):
    """A fulfilled or rejected answer sent to us (we accept and ignore it: we ask for nothing)."""

    model_config = ConfigDict(extra="allow")

    requestEventId: str = Field(min_length=1)
