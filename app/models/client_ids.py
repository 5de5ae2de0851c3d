"""Ids chosen by the client on creation (offline capture), and the record of each claim."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.ids import utcnow
from app.models.base import TIMESTAMP, InputModel

NIL = UUID(int=0)
MAX = UUID(int=(1 << 128) - 1)


def _usable(value: UUID) -> UUID:
    if value in (NIL, MAX):
        raise ValueError("the nil and max UUIDs cannot name an object; generate a UUIDv7 on the device")
    return value


ClientChosenId = Annotated[
    UUID,
    AfterValidator(_usable),
    PydanticField(
        description="Optional id chosen by the client (a UUIDv7 generated on the device) for offline capture. "
        "Sending the same id and body again answers as the first time and creates nothing; the same id with "
        "another body, or an id already in use, is 409 `id-conflict`. Omitted: the server chooses one.",
        examples=["01930000-0000-7000-8000-0000000000c1"],
    ),
]


class ClientIdentified(InputModel):
    """A creation body that may carry the new object's id (`id`)."""

    model_config = InputModel.model_config

    id: ClientChosenId | None = None


class ClientIdClaim(SQLModel, table=True):
    """One client-chosen id, claimed by the request that created an object with it. The row
    outlives the object: an id once used is never given to another object."""

    __tablename__ = "client_ids"

    id: UUID = Field(primary_key=True)
    resource: str = Field(max_length=32)
    request_hash: str = Field(max_length=64)
    creator: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=TIMESTAMP)
