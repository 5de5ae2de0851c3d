"""An enterprise's story: a short, factual summary generated from its progress record.

Visibility is the progress record's (`progress.get_record`: hidden → 404). Only metrics whose
latest result is verified and that improved make the highlights, largest |change_pct| first.
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


def highlight(metric: dict[str, Any], name: str) -> str:
    """ "Yield increased from 78 % to 95 %" / "Water consumption decreased by 75 % (1,200 m3 → 300 m3 per year)"."""
    baseline, latest, unit = metric["baseline"], metric["latest"], metric["unit"]
    verb = "increased" if metric["change_abs"] > 0 else "decreased"
    if unit == "%":
        return f"{name} {verb} from {number(baseline['value'])} % to {number(latest['value'])} %"
    flow = baseline.get("per_year") is not None and latest.get("per_year") is not None
    before = _with_unit(baseline["per_year"] if flow else baseline["value"], unit)
    after = _with_unit(latest["per_year"] if flow else latest["value"], unit)
    per = " per year" if flow else ""
    return f"{name} {verb} by {number(abs(metric['change_pct']))} % ({before} → {after}{per})"


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
    highlights = [highlight(m, names.get(m["metric"], m["metric"])) for m in candidates]

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
    if story.ideas_implemented:
        lines += ["", "## Ideas implemented", ""] + [f"- {_md(t)}" for t in story.ideas_implemented]
    modules = ", ".join(MODULE_NAMES.get(m, m) for m in story.modules_completed) or "none yet"
    lines += ["", "## Programme", "", f"- Modules completed: {_md(modules)}"]
    stamp = story.generated_at.strftime("%Y-%m-%d %H:%M UTC")
    lines += ["", f"_Generated on {stamp} from the data recorded on the ILO SCORE4Climate programme._", ""]
    return "\n".join(lines)
