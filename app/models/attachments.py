"""Attachments: photos and documents that evidence a visit, a result or an idea.

`attachments` holds what is known of a file (name, type, size, SHA-256, who added it); its
bytes are in a blob store (app/blobs.py). `attachment_chunks` is the PostgreSQL store's table:
the bytes in pieces keyed by their offset, removed with their attachment (ON DELETE CASCADE;
the key is checked at commit, because the store writes the bytes before the row exists).

An attachment names its parent by one of three foreign keys, exactly one set, matching
`parent_type`. The parents' keys are plain references: a visit, result or idea that still has
attachments is not deleted (409), so no stored bytes are ever orphaned by a cascade.
`enterprise_id` is the parent's enterprise (parents never move between enterprises): it is
what visibility and the event audience read.
"""

from __future__ import annotations

from uuid import UUID

import sqlalchemy as sa
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from app.models.base import PublicBase, TableBase, enum_column
from app.models.enums import AttachmentParent

FILENAME_MAX = 255
DESCRIPTION_MAX = 2000


class Attachment(TableBase, table=True):
    __tablename__ = "attachments"
    __table_args__ = (
        sa.CheckConstraint(
            "num_nonnulls(visit_id, result_id, idea_id) = 1"
            " AND (visit_id IS NOT NULL) = (parent_type = 'visit')"
            " AND (result_id IS NOT NULL) = (parent_type = 'result')",
            name="one_parent",
        ),
        sa.CheckConstraint("size > 0", name="size_positive"),
    )

    parent_type: AttachmentParent = Field(sa_type=enum_column(AttachmentParent, "attachment_parent"))
    enterprise_id: UUID = Field(foreign_key="enterprises.id", index=True)
    visit_id: UUID | None = Field(default=None, foreign_key="visits.id", index=True)
    result_id: UUID | None = Field(default=None, foreign_key="results.id", index=True)
    idea_id: UUID | None = Field(default=None, foreign_key="ideas.id", index=True)
    filename: str = Field(max_length=FILENAME_MAX)
    content_type: str = Field(max_length=100)
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    created_by: str = Field(max_length=80)

    @property
    def parent_id(self) -> UUID:
        parent = self.visit_id or self.result_id or self.idea_id
        assert parent is not None
        return parent


ATTACHMENT_CHUNKS = sa.Table(
    "attachment_chunks",
    SQLModel.metadata,
    sa.Column(
        "attachment_id",
        sa.Uuid,
        sa.ForeignKey("attachments.id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        primary_key=True,
    ),
    sa.Column("offset", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
"""The PostgreSQL blob store's pieces (app/services/blobs_postgres.py)."""


class AttachmentUpload(SQLModel):
    """The form of an upload (`multipart/form-data`): documents the body for SDKs; the service
    reads it as a stream (app/services/uploads.py), not through this model."""

    model_config = {  # type: ignore[assignment]
        "json_schema_extra": {"examples": [{"file": "(the bytes of meter-line2.jpg)", "description": "Meter, line 2"}]}
    }

    file: bytes = PydanticField(
        description="The file: JPEG, PNG, WebP or PDF by default (ATTACHMENT_TYPES), recognised from its first "
        "bytes; at most ATTACHMENT_MAX_BYTES (20 MB by default)."
    )
    description: str | None = PydanticField(
        default=None, max_length=DESCRIPTION_MAX, description="What the file shows (UTF-8)."
    )


class AttachmentPublic(PublicBase):
    parent_type: AttachmentParent
    parent_id: UUID = PydanticField(description="The visit, result or idea the file evidences.")
    enterprise_id: UUID
    filename: str = PydanticField(
        description="The name the file was sent with, without any folder, at most 255 characters."
    )
    content_type: str = PydanticField(
        description="The media type detected from the file's first bytes (not from its name)."
    )
    size: int = PydanticField(description="Bytes.")
    sha256: str = PydanticField(description="SHA-256 of the bytes, hexadecimal; the download's `ETag` (quoted).")
    description: str | None
    created_by: str = PydanticField(description="`user:<id>` or `client:<id>` of whoever attached it.")

    @classmethod
    def of(cls, attachment: Attachment) -> AttachmentPublic:
        return cls.model_validate({**attachment.model_dump(), "parent_id": attachment.parent_id})
