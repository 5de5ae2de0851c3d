"""Table models and schemas, one module per domain. Importing this package registers every table."""

from app.models import (  # noqa: F401
    api_clients,
    audit,
    auth,
    enterprises,
    idempotency,
    ideas,
    organisations,
    progress,
    reference,
    results,
    supplier_links,
    trainings,
    users,
    visits,
)
from app.models.base import SQLModel

metadata = SQLModel.metadata
