"""Media types the API answers with; a leaf module any layer may import."""

from __future__ import annotations

JSON = "application/json"
CSV = "text/csv"
