"""The shareable story of an enterprise on the programme (generated from its progress record)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField


class StoryEnterprise(BaseModel):
    id: UUID
    name: str
    country: str = PydanticField(description="ISO 3166-1 alpha-2 country code.", examples=["IN"])
    country_name: str = PydanticField(examples=["India"])
    sector: str = PydanticField(description="ISIC Rev.4 code.", examples=["2219"])


class StoryPublic(BaseModel):
    """A short, factual summary that an enterprise, its partner or its buyers can share."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "enterprise": {
                        "id": "01930000-0000-7000-8000-000000000010",
                        "name": "Sunrise Rubber Products Pvt. Ltd.",
                        "country": "IN",
                        "country_name": "India",
                        "sector": "2219",
                    },
                    "headline": "Sunrise Rubber Products Pvt. Ltd. (India) completed SCORE4Climate and "
                    "implemented 3 ideas: yield increased from 78 % to 95 %.",
                    "highlights": [
                        "Material waste rate decreased from 22 % to 0 %",
                        "Yield increased from 78 % to 95 %",
                    ],
                    "emissions": "Emissions 305 t CO2e per year lower (−15.1 %) than at the baseline "
                    "(2,024 → 1,719 t CO2e per year): 54.3 t lower in scope 2 and 251 t lower in scope 3; "
                    "66 % of the latest figure verified; 1.69 → 1.39 kg CO2e per piece (−17.6 %)",
                    "modules_completed": ["workplace_cooperation", "score4climate"],
                    "ideas_implemented": ["New mixing mill and moulding presses to cut rejects"],
                    "generated_at": "2026-11-26T09:00:00Z",
                }
            ]
        }
    )

    enterprise: StoryEnterprise
    headline: str = PydanticField(description="One sentence: the programme completed and the biggest improvement.")
    highlights: list[str] = PydanticField(
        description="Up to five improvements whose latest result is verified, largest relative change first."
    )
    emissions: str | None = PydanticField(
        default=None,
        description="The progress record's `emissions` in one sentence: the change in t CO2e per year against "
        'the baseline ("lower" or "higher", with the relative change), the totals, the change in each GHG '
        "scope, the share of the latest figure that is verified, and the intensity per unit of output when "
        "there is one. Null when no emissions were converted for both the baseline and the latest results.",
    )
    modules_completed: list[str] = PydanticField(
        description="Module codes completed, prerequisite first: `workplace_cooperation`, `score_basics`, `score4climate`."
    )
    ideas_implemented: list[str] = PydanticField(description="Titles of the implemented and verified ideas.")
    generated_at: datetime
