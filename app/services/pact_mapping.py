"""From an enterprise's progress record to its PACT footprints (pure functions, no database).

A footprint is the enterprise's emission intensity for one reporting period: the counted
emissions of its measured flows per unit of its production output (`emissions.intensity` of the
record). An enterprise with an `output_unit` and an intensity has two: its baseline period and
its latest period (the periods of its `production_output` results).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

from app.models.enums import OutputUnit
from app.models.pact import SPEC_VERSION

NAMESPACE = uuid.UUID("6b0f3a52-8d1e-5c47-9a3e-2f7c1d5b9e40")
"""uuid5 namespace of footprint ids (any fixed UUID: it only has to never change)."""

VALIDITY_YEARS = 3

DECLARED_UNITS: dict[OutputUnit, tuple[str, Decimal, str]] = {
    # output_unit: (PACT declared unit, factor from "per output_unit" to "per declared unit", kg per declared unit)
    OutputUnit.kilogram: ("kilogram", Decimal(1), "1"),
    OutputUnit.tonne: ("kilogram", Decimal("0.001"), "1"),
    OutputUnit.liter: ("liter", Decimal(1), "0"),
    OutputUnit.cubic_meter: ("cubic meter", Decimal(1), "0"),
    OutputUnit.square_meter: ("square meter", Decimal(1), "0"),
    OutputUnit.kilowatt_hour: ("kilowatt hour", Decimal(1), "0"),
    OutputUnit.megajoule: ("megajoule", Decimal(1), "0"),
    OutputUnit.piece: ("piece", Decimal(1), "0"),
    OutputUnit.hour: ("hour", Decimal(1), "0"),
}
"""Every output unit the programme knows has a PACT declared unit; tonnes are reported per
kilogram. The programme does not record product mass: `productMassPerDeclaredUnit` is "0" (not
reported) except for mass units."""

SCOPE_NAMES = {1: "scope 1 (direct)", 2: "scope 2 (purchased energy)", 3: "scope 3 (value chain)"}


def urn(kind: str, value: object) -> str:
    return f"urn:score4climate:{kind}:{value}"


def decimal_text(value: Decimal | float) -> str:
    """A decimal as PACT wants it: a string, no exponent, no trailing zeros after the point."""
    number = Decimal(str(value)) if isinstance(value, float) else value
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class Enterprise:
    """The columns of the enterprise a footprint names."""

    id: UUID
    name: str
    country: str
    sector: str
    products: str | None
    output_unit: OutputUnit | None


@dataclass(frozen=True)
class Issue:
    """A footprint's content, before it is issued (id, created and status come from the table)."""

    id: UUID
    enterprise_id: UUID
    period_start: date
    period_end: date
    content_hash: str
    body: dict[str, Any]

    @property
    def validity_start(self) -> datetime:
        return datetime.fromisoformat(self.body["validityPeriodStart"])

    @property
    def validity_end(self) -> datetime:
        return datetime.fromisoformat(self.body["validityPeriodEnd"])

    @property
    def product_keys(self) -> list[str]:
        return [value.lower() for value in self.body["productIds"]]

    @property
    def company_keys(self) -> list[str]:
        return [value.lower() for value in self.body["companyIds"]]

    @property
    def classification_keys(self) -> list[str]:
        return [value.lower() for value in self.body["productClassifications"]]


def _instant(day: date) -> str:
    return datetime.combine(day, time(), tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _production_periods(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    for metric in record.get("metrics", []):
        if metric.get("metric") == "production_output":
            return {side: metric[side] for side in ("baseline", "latest") if metric.get(side)}
    return {}


def _boundary(record: dict[str, Any]) -> str:
    scopes = [SCOPE_NAMES.get(s["scope"], f"scope {s['scope']}") for s in record["emissions"].get("by_scope", [])]
    counted = sorted(
        {m["metric"] for m in record.get("metrics", []) if m.get("tco2e") and m["tco2e"].get("latest_per_year")}
    )
    return (
        "Gate-to-gate emissions of the enterprise's measured flows only ("
        + (", ".join(counted) or "none")
        + "; "
        + (", ".join(scopes) or "no scope")
        + "), converted with the emission factors listed, divided by the enterprise's whole production output "
        "of the period (every product alike: no allocation between products). Upstream materials, "
        "transport and end of life are not included."
    )


def _sources(record: dict[str, Any]) -> list[dict[str, str]] | None:
    found = {(f["source"], str(f["year"])) for f in record["emissions"].get("factors", [])}
    return [{"name": name[:300], "version": year} for name, year in sorted(found)] or None


def footprints(enterprise: Enterprise, record: dict[str, Any]) -> list[Issue]:
    """The enterprise's current footprints: none without an output unit or an intensity."""
    intensity = (record.get("emissions") or {}).get("intensity")
    if enterprise.output_unit is None or not intensity:
        return []
    unit, factor, mass = DECLARED_UNITS[enterprise.output_unit]
    periods = _production_periods(record)
    verified_share = record["emissions"].get("verified_share")
    out = []
    for side, period in periods.items():
        value = Decimal(str(intensity[f"{side}_kg_co2e_per_unit"])) * factor
        start, end = date.fromisoformat(period["period_start"]), date.fromisoformat(period["period_end"])
        after_end = end + timedelta(days=1)
        pcf: dict[str, Any] = {
            "declaredUnitOfMeasurement": unit,
            "declaredUnitAmount": "1",
            "productMassPerDeclaredUnit": mass,
            "referencePeriodStart": _instant(start),
            "referencePeriodEnd": _instant(after_end),
            "geographyCountry": enterprise.country,
            "boundaryProcessesDescription": _boundary(record),
            "pcfExcludingBiogenicUptake": decimal_text(value),
            "pcfIncludingBiogenicUptake": decimal_text(value),
            "fossilGhgEmissions": decimal_text(value),
            "fossilCarbonContent": "0",
            "ipccCharacterizationFactors": ["AR5"],
            "crossSectoralStandards": ["GHGP-Corporate"],
            "exemptedEmissionsPercent": "0",
            "exemptedEmissionsDescription": "Nothing inside the boundary is exempted; what lies outside it is "
            "described in boundaryProcessesDescription.",
            "allocationRulesDescription": "The enterprise's emissions divided by its total production output "
            "(physical allocation over all of its output).",
        }
        sources = _sources(record)
        if sources:
            pcf["secondaryEmissionFactorSources"] = sources
        if side == "latest" and verified_share is not None:
            pcf["primaryDataShare"] = decimal_text(Decimal(str(verified_share)) * 100)
        validity_end = datetime.combine(after_end, time(), tzinfo=UTC)
        validity_end = validity_end.replace(year=validity_end.year + VALIDITY_YEARS)
        body = {
            "specVersion": SPEC_VERSION,
            "validityPeriodStart": _instant(after_end),
            "validityPeriodEnd": validity_end.isoformat().replace("+00:00", "Z"),
            "companyName": enterprise.name,
            "companyIds": [urn("enterprise", enterprise.id)],
            "productDescription": f"Average of everything {enterprise.name} produced from {start} to {end}, "
            f"per {unit} of output"
            + (f" ({enterprise.products})" if enterprise.products else "")
            + f"; {side} period of the SCORE4Climate programme.",
            "productIds": [urn("product", enterprise.id)],
            "productClassifications": [urn("isic4", enterprise.sector)],
            "productNameCompany": (enterprise.products or f"Output of {enterprise.name}")[:200],
            "comment": f"Supplier-specific intensity from the SCORE4Climate programme ({side} period). "
            + (
                f"{decimal_text(Decimal(str(verified_share)) * 100)}% of the period's emissions come from "
                "results verified by an expert or partner."
                if side == "latest" and verified_share is not None
                else "Results of this period are self-reported unless verified."
            ),
            "pcf": pcf,
        }
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        ident = uuid.uuid5(NAMESPACE, f"{enterprise.id}:{start}:{end}:{digest}")
        out.append(Issue(ident, enterprise.id, start, end, digest, body))
    return out
