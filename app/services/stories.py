"""An enterprise's story: a short, factual summary generated from its progress record.

Visibility is the progress record's (`progress.get_record`: hidden → 404). Only metrics whose
latest result is verified and that improved make the highlights, largest |change_pct| first.
The emissions sentence restates the record's `emissions` (whether lower or higher), with the
share of the latest figure that is verified.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

import orjson
import pycountry
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.ids import utcnow
from app.models.enterprises import Enterprise
from app.models.enums import IdeaStatus, Module
from app.models.ideas import Idea
from app.models.reference import Metric
from app.models.stories import StoryEnterprise, StoryPublic
from app.principal import Principal
from app.services import progress

MAX_HIGHLIGHTS = 5
MODULE_NAMES = {
    Module.workplace_cooperation.value: "Workplace cooperation",
    Module.score_basics.value: "SCORE Basics",
    Module.score4climate.value: "SCORE4Climate",
}
MODULE_ORDER = list(MODULE_NAMES)
UNIT_LABELS = {"unit": "units", "count": ""}
# Production output counts the enterprise's output unit: "1,200,000 pieces", "96,000 hours".
OUTPUT_UNIT_PLURALS = {
    "kilogram": "kg",
    "tonne": "tonnes",
    "liter": "litres",
    "cubic_meter": "m3",
    "square_meter": "m2",
    "kilowatt_hour": "kWh",
    "megajoule": "MJ",
    "piece": "pieces",
    "hour": "hours",
}
OUTPUT_UNIT_LABELS = {
    "kilogram": "kg",
    "tonne": "tonne",
    "liter": "litre",
    "cubic_meter": "m3",
    "square_meter": "m2",
    "kilowatt_hour": "kWh",
    "megajoule": "MJ",
    "piece": "piece",
    "hour": "hour",
}


def number(value: float) -> str:
    """1200 → "1,200"; 300.01 → "300"; 12.46 → "12.5"; 0.456 → "0.46"."""
    magnitude = abs(value)
    digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2
    text = f"{value:,.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _with_unit(value: float, unit: str) -> str:
    label = UNIT_LABELS.get(unit, unit)
    return f"{number(value)} {label}".rstrip()


def highlight(metric: dict[str, Any], name: str, unit: str | None = None) -> str:
    """ "Yield increased from 78 % to 95 %" / "Water consumption decreased by 75 % (1,200 m3 → 300 m3 per year)".
    `unit`: a label in place of the metric's unit (production output's)."""
    baseline, latest = metric["baseline"], metric["latest"]
    unit = unit or metric["unit"]
    verb = "increased" if metric["change_abs"] > 0 else "decreased"
    if unit == "%":
        return f"{name} {verb} from {number(baseline['value'])} % to {number(latest['value'])} %"
    flow = baseline.get("per_year") is not None and latest.get("per_year") is not None
    before = _with_unit(baseline["per_year"] if flow else baseline["value"], unit)
    after = _with_unit(latest["per_year"] if flow else latest["value"], unit)
    per = " per year" if flow else ""
    return f"{name} {verb} by {number(abs(metric['change_pct']))} % ({before} → {after}{per})"


def _kg(value: float) -> str:
    """An intensity: as `number`, or three significant digits below 0.01 kg (0.000994)."""
    return number(value) if value == 0 or abs(value) >= 0.01 else f"{value:.3g}"


def _pct(value: float) -> str:
    """-15.06 → "−15.1 %"; 24.7 → "+24.7 %"."""
    sign = "−" if value < 0 else "+" if value > 0 else ""
    return f"{sign}{number(abs(value))} %"


def _lower_or_higher(reduction: float) -> str:
    return "lower" if reduction > 0 else "higher" if reduction < 0 else "unchanged"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def emissions_sentence(emissions: dict[str, Any]) -> str | None:
    """The record's emissions in one sentence, or None when it has no reduction (nothing
    converted on both sides). E.g. "Emissions 305 t CO2e per year lower (−15.1 %) than at the
    baseline (2,024 → 1,719 t CO2e per year): 54.3 t lower in scope 2 and 251 t lower in scope
    3; 66 % of the latest figure verified; 1.69 → 1.39 kg CO2e per piece (−17.6 %)"."""
    reduction = emissions.get("reduction_tco2e_per_year")
    if reduction is None:
        return None
    baseline, latest = emissions["baseline_tco2e_per_year"], emissions["latest_tco2e_per_year"]
    span = f"{number(baseline)} → {number(latest)} t CO2e per year"
    if reduction == 0:
        text = f"Emissions unchanged from the baseline ({span})"
    else:
        pct = emissions.get("reduction_pct")
        change = f" ({_pct(-pct)})" if pct is not None else ""
        text = f"Emissions {number(abs(reduction))} t CO2e per year {_lower_or_higher(reduction)}{change} than at the baseline ({span})"
    scopes = [
        f"{number(abs(s['reduction_tco2e_per_year']))} t {_lower_or_higher(s['reduction_tco2e_per_year'])} in scope {s['scope']}"
        if s["reduction_tco2e_per_year"]
        else f"unchanged in scope {s['scope']}"
        for s in emissions.get("by_scope") or []
    ]
    if scopes:
        text += ": " + _and(scopes)
    share = emissions.get("verified_share")
    if share is not None:
        text += f"; {number(round(share * 100))} % of the latest figure verified"
    intensity = emissions.get("intensity")
    if intensity:
        unit = OUTPUT_UNIT_LABELS.get(intensity["output_unit"] or "", "unit of output")
        text += (
            f"; {_kg(intensity['baseline_kg_co2e_per_unit'])} → {_kg(intensity['latest_kg_co2e_per_unit'])}"
            f" kg CO2e per {unit}"
        )
        if intensity.get("change_pct") is not None:
            text += f" ({_pct(intensity['change_pct'])})"
    return text


def _lower_first(text: str) -> str:
    return text[0].lower() + text[1:] if len(text) > 1 and text[1].islower() else text


def country_name(code: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    return getattr(country, "common_name", None) or (country.name if country else code)


async def build_story(session: AsyncSession, principal: Principal, enterprise_id: UUID) -> StoryPublic:
    record = orjson.loads(await progress.get_record(session, principal, enterprise_id))
    ent = record["enterprise"]

    candidates = [
        m
        for m in record["metrics"]
        if m["baseline"]
        and m["latest"]
        and m["latest"].get("verified")
        and m["improved"]
        and m["change_pct"] is not None
    ]
    candidates.sort(key=lambda m: (-abs(m["change_pct"]), m["metric"]))
    candidates = candidates[:MAX_HIGHLIGHTS]
    names: dict[str, str] = {}
    if candidates:
        rows = await session.exec(
            select(Metric.code, Metric.name).where(col(Metric.code).in_([m["metric"] for m in candidates]))
        )
        names = dict(rows.all())  # type: ignore[arg-type]
    output_unit = (await session.exec(select(Enterprise.output_unit).where(Enterprise.id == enterprise_id))).first()
    output_label = OUTPUT_UNIT_PLURALS.get(output_unit) if output_unit else None
    highlights = [
        highlight(m, names.get(m["metric"], m["metric"]), output_label if m["metric"] == "production_output" else None)
        for m in candidates
    ]

    completed = set(record["programme"]["modules_completed"])
    modules = [m for m in MODULE_ORDER if m in completed] + sorted(completed - set(MODULE_ORDER))

    done = [IdeaStatus.verified, IdeaStatus.implemented]
    ideas = await session.exec(
        select(Idea.title, Idea.status)
        .where(Idea.enterprise_id == enterprise_id, col(Idea.status).in_(done))
        .order_by(col(Idea.created_at), col(Idea.id))
    )
    ordered = sorted(ideas.all(), key=lambda row: done.index(IdeaStatus(row[1])))
    titles = [str(title) for title, _ in ordered]

    where = country_name(ent["country"])
    if Module.score4climate.value in completed:
        did = "completed SCORE4Climate"
    elif modules:
        did = "completed " + " and ".join(MODULE_NAMES.get(m) or m for m in modules)
    else:
        did = "joined the SCORE4Climate programme"
    if titles:
        did += f" and implemented {len(titles)} idea{'s' if len(titles) != 1 else ''}"
    headline = f"{ent['name']} ({where}) {did}"
    headline += f": {_lower_first(highlights[0])}." if highlights else "."

    return StoryPublic(
        enterprise=StoryEnterprise(
            id=ent["id"], name=ent["name"], country=ent["country"], country_name=where, sector=ent["sector"]
        ),
        headline=headline,
        highlights=highlights,
        emissions=emissions_sentence(record["emissions"]),
        modules_completed=modules,
        ideas_implemented=titles,
        generated_at=utcnow(),
    )


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def markdown(story: StoryPublic) -> str:
    ent = story.enterprise
    lines = [
        f"# {_md(ent.name)}",
        "",
        f"{_md(ent.country_name)} · ISIC {_md(ent.sector)}",
        "",
        f"**{_md(story.headline)}**",
    ]
    if story.highlights:
        lines += ["", "## Verified improvements", ""] + [f"- {_md(h)}" for h in story.highlights]
    if story.emissions:
        lines += ["", "## Greenhouse-gas emissions", "", _md(story.emissions) + "."]
    if story.ideas_implemented:
        lines += ["", "## Ideas implemented", ""] + [f"- {_md(t)}" for t in story.ideas_implemented]
    modules = ", ".join(MODULE_NAMES.get(m, m) for m in story.modules_completed) or "none yet"
    lines += ["", "## Programme", "", f"- Modules completed: {_md(modules)}"]
    stamp = story.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    lines += ["", f"_Generated on {stamp} from the data recorded on the ILO SCORE4Climate programme._", ""]
    return "\n".join(lines)
