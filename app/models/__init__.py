"""Table models and schemas, one module per domain. Importing this package registers every table."""

from app.models import api_clients, auth, idempotency, organisations, users  # noqa: F401
from app.models.base import SQLModel

metadata = SQLModel.metadata
