"""Table models and schemas, one module per domain. Importing this package registers every table."""

from sqlmodel import SQLModel

from app.models import (  # noqa: F401
    api_clients,
    attachments,
    audit,
    auth,
    client_ids,
    enterprises,
    events,
    ideas,
    idempotency,
    organisations,
    pact,
    progress,
    reference,
    results,
    supplier_links,
    trainings,
    users,
    visits,
    webhooks,
)

metadata = SQLModel.metadata
