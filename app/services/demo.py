"""Demo data that tells the programme's story (development only).

A small, coherent world: one implementing partner with its staff and two certified experts,
two lead buyers (one buyer user each, and a machine client for the first), and the three
enterprises of the SCORE4Climate success stories, each with its SME user, its trainings
(prerequisite module first, then the two-day workshop), workshop ideas and their life cycle,
expert visits, a baseline and monthly results, and an active supplier link to a buyer:

- a rubber products maker in India: yield 78 % → 95 %, rubber waste 22 % → 0 %;
- a lime processor in Ghana: quicker, safer bagging, fewer spillages, waste lime sold as paint;
- a cleaning-services company in China: chemical-free equipment, water −75 %, clients doubled.

The outcomes are the success stories'; every figure behind them (production, materials bought,
electricity, waste, water) is illustrative: made up to be plausible and consistent with the
story, not measured data of a real company. Each enterprise records the flows its climate
accounting needs (a scope, a factor, a baseline and a latest result), so its progress record
shows tCO2e by scope, a verified share and an intensity per unit of its `output_unit`:

- rubber: scope 2 (electricity) and scope 3 (rubber compound, landfilled waste) fall as yield
  rises and trimmings are sold;
- lime: bagging ~28 % more lime means buying ~28 % more quicklime, whose calcination CO2 is the
  processor's scope 3: its emissions are higher in total and slightly lower per bag;
- cleaning: scope 3 (chemicals, water, wastewater) falls while scope 2 rises, as steam cleaners
  and the microfibre-pad laundry use more electricity.

`load_demo` is idempotent: when the demo partner already exists it creates nothing and
describes what is there. Every demo user shares one documented password (`DEMO_PASSWORD`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from app import security
from app.config import get_settings
from app.ids import utcnow
from app.locks import hold_startup_lock
from app.models.api_clients import ApiClient
from app.models.enterprises import Enterprise, EnterpriseExpert
from app.models.enums import (
    IdeaCategory,
    IdeaStatus,
    LinkStatus,
    Module,
    OutputUnit,
    ResultSource,
    TrainingStatus,
    VisitKind,
    VisitStatus,
)
from app.models.ideas import Idea, IdeaTransition
from app.models.organisations import Organisation
from app.models.results import Result
from app.models.supplier_links import SupplierLink
from app.models.trainings import Enrollment, Training, TrainingTrainer
from app.models.types import OrganisationKind, Role
from app.models.users import User
from app.models.visits import Visit, VisitIdea
from app.services import progress

DEMO_PASSWORD = "score4climate-demo"
DEMO_PARTNER_NAME = "SCORE4Climate Demo Productivity Centre"
DEMO_CLIENT_NAME = "Evergreen sourcing system (demo)"
DEMO_DOMAIN = "demo.example.org"


class DemoRefused(RuntimeError):
    """Demo data is for development: never loaded into a production database."""


@dataclass
class DemoLogin:
    role: str
    email: str
    who: str


@dataclass
class DemoSummary:
    created: bool
    password: str
    partner_id: UUID
    logins: list[DemoLogin] = field(default_factory=list)
    enterprises: dict[str, UUID] = field(default_factory=dict)
    api_client_id: str | None = None
    api_client_secret: str | None = None  # only when newly created: it is stored hashed


# --- The world -------------------------------------------------------------------------------


def _email(local: str) -> str:
    return f"{local}@{DEMO_DOMAIN}"


PARTNER_USER = ("partner", "Meera Iyer", "Programme officer, demo productivity centre")
EXPERTS = {
    "asha": ("expert.asha", "Asha Rao", "ILO-certified SCORE expert (India, China)"),
    "kwame": ("expert.kwame", "Kwame Mensah", "ILO-certified SCORE expert (Ghana)"),
}
BUYERS = {
    "evergreen": ("Evergreen Building & Industrial Supplies", "DE", "buyer.evergreen", "Lena Fischer"),
    "northwind": ("Northwind Hospitality Group", "GB", "buyer.northwind", "Tom Hughes"),
}
CLIENT_OWNER = _email(BUYERS["evergreen"][2])  # a buyer user of the demo client's organisation

# Timeline: baseline year 2025, prerequisite module January 2026, workshop February 2026,
# visits March-October 2026, monthly results May-October 2026.
BASELINE = (date(2025, 1, 1), date(2025, 12, 31))
MONTHS = [(date(2026, m, 1), date(2026, m + 1, 1) - timedelta(days=1)) for m in range(5, 11)]


ILLUSTRATIVE = " (Demo world: illustrative figures, not measured data of a real company.)"


def _at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


# Each idea: key, title, category, description, savings, investment, effect (metric, change),
# final status, whether it came from a visit (index into the visits) rather than the workshop.
STORIES: list[dict[str, Any]] = [
    {
        "key": "rubber",
        "name": "Sunrise Rubber Products Pvt. Ltd.",
        "country": "IN",
        "sector": "2219",
        "employees": (38, 74),
        "products": "Moulded rubber parts, hoses and gaskets for the automotive and building trades.",
        "output_unit": OutputUnit.piece,  # moulded parts
        "sme": ("sme.rubber", "Rajesh Kumar", "Plant manager"),
        "currency": "INR",
        "expert": "asha",
        "buyer": "evergreen",
        "place": "Chennai",
        "prerequisite": Module.workplace_cooperation,
        "participants": [
            ("manager", "male", "Rajesh Kumar"),
            ("manager", "female", "Lakshmi Narayan"),
            ("worker", "female", "Priya Devi"),
            ("worker", "male", "Suresh Babu"),
            ("worker", "male", None),
            ("worker", "female", None),
        ],
        "visits": [
            (
                date(2026, 3, 10),
                VisitKind.intake,
                "Baseline confirmed: 78 % yield, 22 % of rubber compound wasted "
                "as flash and off-cuts. Mixing mill and two presses worn out; heavy dust at buffing. "
                "2025: 1.2 million parts from 400 t of compound, 88 t of it landfilled; 900 MWh of "
                "electricity." + ILLUSTRATIVE,
            ),
            (
                date(2026, 5, 12),
                VisitKind.consultation,
                "New presses commissioned; agreed to sell trimmings to two "
                "rubber manufacturers. Dust collectors specified for grinding and buffing.",
            ),
            (date(2026, 8, 11), VisitKind.follow_up, "Dust collectors installed and working. Waste sold each week."),
            (
                date(2026, 10, 13),
                VisitKind.monitoring,
                "Yield at 95 %; no rubber waste to landfill since September: about 300 kg of "
                "buffing dust a month from the dust collectors is all that goes to landfill.",
            ),
        ],
        "ideas": [
            (
                "New mixing mill and moulding presses to cut rejects",
                IdeaCategory.productivity,
                "Replace the worn mixing mill and two moulding presses; tighter tolerances mean fewer rejects.",
                1_800_000,
                3_500_000,
                ("yield_rate", 17),
                IdeaStatus.verified,
                None,
            ),
            (
                "Sell rubber trimmings and off-cuts to rubber manufacturers",
                IdeaCategory.circularity,
                "Collect flash and off-cuts by compound and sell them to reclaim-rubber manufacturers.",
                420_000,
                50_000,
                ("material_waste_rate", -22),
                IdeaStatus.verified,
                None,
            ),
            (
                "Install dust collectors at the grinding and buffing stations",
                IdeaCategory.osh,
                "Extraction hoods and bag filters: cleaner air for workers and less product contamination.",
                60_000,
                650_000,
                None,
                IdeaStatus.implemented,
                0,
            ),
            (
                "Insulate the curing press platens",
                IdeaCategory.energy,
                "Insulate platens and steam lines to cut heat losses.",
                180_000,
                120_000,
                ("electricity", -15_000),
                IdeaStatus.in_progress,
                None,
            ),
            (
                "Harvest rainwater for the cooling circuit",
                IdeaCategory.water,
                None,
                40_000,
                200_000,
                ("water", -300),
                IdeaStatus.proposed,
                None,
            ),
        ],
        # metric: baseline value, six monthly values, verified months (indexes), idea index
        # Illustrative figures. Each part holds ~0.26 kg of rubber: compound bought = parts ×
        # 0.26 ÷ yield. Landfilled = compound × waste rate (+ ~300 kg of collected dust a month
        # from August); sold = the rest of the compound not in good parts. The latest
        # electricity reading is not verified yet.
        "results": {
            "yield_rate": (78, [82, 86, 89, 92, 94, 95], {3, 5}, 0),
            "material_waste_rate": (22, [16, 11, 6, 2, 0, 0], {3, 5}, 1),
            "production_output": (1_200_000, [100_000, 101_000, 102_000, 103_000, 104_000, 105_000], {3, 5}, 0),
            "rubber_compound": (400_000, [31_700, 30_500, 29_800, 29_100, 28_800, 28_700], {3, 5}, 0),
            "electricity": (900_000, [74_000, 73_000, 72_000, 71_000, 69_000, 70_000], {1, 3}, 0),
            "solid_waste": (88_000, [5_100, 3_400, 1_800, 900, 300, 300], {3, 5}, 1),
            "waste_recycled": (0, [600, 900, 1_500, 1_700, 1_700, 1_400], {3, 5}, 1),
        },
    },
    {
        "key": "lime",
        "name": "Asante Lime Processing Ltd.",
        "country": "GH",
        "sector": "2394",
        "employees": (12, 41),
        "products": "Hydrated lime and quicklime in 25 kg bags; limewash paint made from waste lime.",
        "output_unit": OutputUnit.piece,  # 25 kg bags
        "sme": ("sme.lime", "Ama Owusu", "Managing director"),
        "currency": "GHS",
        "expert": "kwame",
        "buyer": "evergreen",
        "place": "Takoradi",
        "prerequisite": Module.score_basics,
        "participants": [
            ("manager", "female", "Ama Owusu"),
            ("manager", "male", "Kofi Boateng"),
            ("worker", "male", "Yaw Darko"),
            ("worker", "male", None),
            ("worker", "female", "Efua Mensah"),
        ],
        "visits": [
            (
                date(2026, 3, 12),
                VisitKind.intake,
                "Bagging by shovel is slow and unsafe; about 4 t of lime "
                "spilled and lost each month. Waste lime piled behind the store. 2025: 120,000 bags "
                "from 3,048 t of quicklime; 60 MWh of electricity." + ILLUSTRATIVE,
            ),
            (
                date(2026, 5, 14),
                VisitKind.consultation,
                "Bagging platform with funnel and scale built by the team. "
                "Trial batch of limewash paint from waste lime sold to local painters.",
            ),
            (date(2026, 8, 13), VisitKind.follow_up, "Spillage down by two thirds; paint sales growing."),
            (
                date(2026, 10, 15),
                VisitKind.monitoring,
                "Targets exceeded: 13,000 bags in October against a target "
                "of 12,000; spillage at 1.2 t a month against a target of 2 t.",
            ),
        ],
        "ideas": [
            (
                "Bagging platform with funnel and scale for quicker, safer bagging",
                IdeaCategory.productivity,
                "Raised platform, funnel and platform scale: no more shovelling at floor level.",
                36_000,
                15_000,
                ("production_output", 30_000),
                IdeaStatus.verified,
                None,
            ),
            (
                "Sweep and recover spilled lime at the bagging line",
                IdeaCategory.waste,
                "Daily sweeping into covered bins; recovered lime goes back to the bagging hopper.",
                12_000,
                2_000,
                ("solid_waste", -30_000),
                IdeaStatus.verified,
                None,
            ),
            (
                "Turn waste lime into limewash paint sold locally",
                IdeaCategory.circularity,
                "Mix fines and off-spec lime with water and pigment; sell in 20 L buckets to local painters.",
                24_000,
                8_000,
                None,
                IdeaStatus.implemented,
                1,
            ),
            (
                "Dust masks, goggles and gloves for every bagging shift",
                IdeaCategory.osh,
                None,
                0,
                3_000,
                ("work_accidents", -6),
                IdeaStatus.implemented,
                None,
            ),
            (
                "Cover the storage heaps against rain",
                IdeaCategory.materials,
                None,
                6_000,
                10_000,
                None,
                IdeaStatus.approved,
                None,
            ),
        ],
        # Illustrative figures. Quicklime bought = bags × 25 kg + the lime spilled and not
        # recovered (solid waste); the paint is made from the waste lime piled up before. The
        # latest electricity reading is not verified yet.
        "results": {
            "production_output": (120_000, [10_200, 11_000, 11_800, 12_400, 12_700, 13_000], {3, 5}, 0),
            "quicklime": (3_048_000, [258_000, 277_400, 297_000, 311_600, 318_900, 326_200], {3, 5}, 1),
            "electricity": (60_000, [5_000, 5_100, 5_200, 5_300, 5_300, 5_400], {3}, 0),
            "solid_waste": (48_000, [3_000, 2_400, 2_000, 1_600, 1_400, 1_200], {3, 5}, 1),
            "waste_recycled": (0, [300, 600, 900, 1_200, 1_500, 1_800], {3, 5}, 2),
            "work_accidents": (9, [1, 0, 0, 1, 0, 0], set(), 3),  # self-reported, not yet verified
        },
    },
    {
        "key": "cleaning",
        "name": "Jade River Cleaning Services Co., Ltd.",
        "country": "CN",
        "sector": "8121",
        "employees": (46, 22),
        "products": "Office, hospital and hotel cleaning services.",
        "output_unit": OutputUnit.hour,  # service hours
        "sme": ("sme.cleaning", "Chen Mei", "General manager"),
        "currency": "CNY",
        "expert": "asha",
        "buyer": "northwind",
        "place": "Suzhou",
        "prerequisite": Module.workplace_cooperation,
        "participants": [
            ("manager", "female", "Chen Mei"),
            ("manager", "male", "Wang Lei"),
            ("worker", "female", "Liu Fang"),
            ("worker", "female", None),
            ("worker", "male", "Zhao Gang"),
            ("worker", "female", None),
        ],
        "visits": [
            (
                date(2026, 3, 17),
                VisitKind.intake,
                "1,200 m3 of water a year and 14 cleaning chemicals in use (2.4 t a year); cleaners "
                "report skin irritation. 2025: 96,000 service hours, 18 MWh of electricity." + ILLUSTRATIVE,
            ),
            (
                date(2026, 5, 19),
                VisitKind.consultation,
                "Chemical-free equipment (ionised water, steam) trialled "
                "on two hospital contracts; microfibre flat mops introduced.",
            ),
            (
                date(2026, 8, 18),
                VisitKind.follow_up,
                "All teams on chemical-free equipment; green cleaning offer brought in new office clients. "
                "Electricity use is up: steam cleaners and the microfibre-pad laundry.",
            ),
            (date(2026, 10, 20), VisitKind.monitoring, "Water use down 75 %; clients served doubled to 80."),
        ],
        "ideas": [
            (
                "Switch to chemical-free cleaning equipment",
                IdeaCategory.chemicals,
                "Ionised-water scrubbers and steam cleaners replace detergents and disinfectants.",
                85_000,
                120_000,
                ("water", -700),
                IdeaStatus.verified,
                None,
            ),
            (
                "Microfibre flat mops instead of bucket mopping",
                IdeaCategory.water,
                "Pre-wetted microfibre pads: a fraction of the water, no dirty-water buckets.",
                20_000,
                15_000,
                ("water", -200),
                IdeaStatus.verified,
                None,
            ),
            (
                "Offer chemical-free cleaning as a green service to new clients",
                IdeaCategory.productivity,
                "Market the chemical-free service to offices, clinics and hotels.",
                150_000,
                10_000,
                ("clients_served", 40),
                IdeaStatus.implemented,
                1,
            ),
            (
                "Replace the petrol vans with electric vans",
                IdeaCategory.emissions,
                None,
                30_000,
                600_000,
                ("petrol", -4_000),
                IdeaStatus.rejected,
                None,
            ),
        ],
        # Illustrative figures. Service hours grow less than clients (the new office clients
        # are small); a little disinfectant is still bought for hospital contracts, its latest
        # invoice not verified yet.
        "results": {
            # Water: 1,200 m3 in 2025; monthly meter readings, the latest at 300 m3 a year.
            "water": (1_200, [70, 55, 40, 32, 27, round(300 * 31 / 365, 2)], {3, 5}, 0),
            "clients_served": (40, [46, 52, 58, 66, 74, 80], {3, 5}, 2),
            "production_output": (96_000, [8_000, 8_300, 8_600, 8_900, 9_200, 9_500], {3, 5}, 2),
            "wastewater": (1_150, [66, 52, 38, 30, 25, 23], {3, 5}, 0),
            "cleaning_chemicals": (2_400, [120, 60, 30, 15, 10, 10], {3}, 0),
            "electricity": (18_000, [1_700, 1_800, 1_850, 1_900, 1_950, 2_000], {3, 5}, 0),
        },
    },
]

PATHS = {
    IdeaStatus.proposed: [],
    IdeaStatus.approved: [IdeaStatus.approved],
    IdeaStatus.in_progress: [IdeaStatus.approved, IdeaStatus.in_progress],
    IdeaStatus.implemented: [IdeaStatus.approved, IdeaStatus.in_progress, IdeaStatus.implemented],
    IdeaStatus.verified: [IdeaStatus.approved, IdeaStatus.in_progress, IdeaStatus.implemented, IdeaStatus.verified],
    IdeaStatus.rejected: [IdeaStatus.rejected],
}
# Days after the workshop at which an idea reaches each status.
STEP_DAYS = {
    IdeaStatus.approved: 14,
    IdeaStatus.in_progress: 30,
    IdeaStatus.implemented: 120,
    IdeaStatus.verified: 200,
    IdeaStatus.rejected: 21,
}


# --- Loading ---------------------------------------------------------------------------------


def refuse_in_production(environment: str | None = None) -> None:
    env = environment or get_settings().environment
    if env == "production":
        raise DemoRefused(
            "refusing to load demo data: ENVIRONMENT=production. The demo world (shared password "
            f"{DEMO_PASSWORD!r}) is for development and test databases only."
        )


async def load_demo(session: AsyncSession, *, environment: str | None = None) -> DemoSummary:
    """Create the demo world (flushed, not committed: the caller commits).

    Under the start-up lock until the caller's transaction ends: of several loads at once, one
    creates the world and the others, let through after its commit, find it there."""
    refuse_in_production(environment)
    await hold_startup_lock(session)
    existing = await _demo_partner(session)
    if existing is not None:
        return await _describe(session, existing)
    return await _create(session)


async def load_demo_at_start(session: AsyncSession) -> DemoSummary | None:
    """What `serve` does with the demo world: describe it when it is there, create it in a
    database without enterprises, and leave any other database alone (None)."""
    refuse_in_production()
    await hold_startup_lock(session)
    if await _demo_partner(session) is None and (await session.exec(select(Enterprise.id).limit(1))).first():
        return None
    return await load_demo(session)


async def _demo_partner(session: AsyncSession) -> Organisation | None:
    query = select(Organisation).where(
        Organisation.kind == OrganisationKind.partner, Organisation.name == DEMO_PARTNER_NAME
    )
    return (await session.exec(query)).first()


async def _describe(session: AsyncSession, partner: Organisation) -> DemoSummary:
    summary = DemoSummary(created=False, password=DEMO_PASSWORD, partner_id=partner.id)
    users = {u.email: u for u in (await session.exec(select(User).where(User.email.endswith("@" + DEMO_DOMAIN)))).all()}  # type: ignore[attr-defined]
    for login in _planned_logins():
        if login.email in users:
            summary.logins.append(login)
    for story in STORIES:
        query = select(Enterprise.id).where(Enterprise.partner_id == partner.id, Enterprise.name == story["name"])
        enterprise_id = (await session.exec(query)).first()
        if enterprise_id is not None:
            summary.enterprises[story["key"]] = enterprise_id
    client = (await session.exec(select(ApiClient).where(ApiClient.name == DEMO_CLIENT_NAME))).first()
    summary.api_client_id = client.client_id if client else None
    return summary


def _planned_logins() -> list[DemoLogin]:
    logins = [DemoLogin("partner", _email(PARTNER_USER[0]), f"{PARTNER_USER[1]}, {DEMO_PARTNER_NAME}")]
    logins += [DemoLogin("expert", _email(local), f"{name}, {what}") for local, name, what in EXPERTS.values()]
    logins += [DemoLogin("sme", _email(s["sme"][0]), f"{s['sme'][1]}, {s['name']} ({s['country']})") for s in STORIES]
    logins += [DemoLogin("buyer", _email(local), f"{person}, {org}") for org, _, local, person in BUYERS.values()]
    return logins


async def _create(session: AsyncSession) -> DemoSummary:
    password_hash = security.hash_password(DEMO_PASSWORD)
    certified_until = date(date.today().year + 2, 12, 31)

    def user(role: Role, local: str, name: str, **kw: Any) -> User:
        made = User(email=_email(local), password_hash=password_hash, role=role, full_name=name, **kw)
        session.add(made)
        return made

    partner = Organisation(kind=OrganisationKind.partner, name=DEMO_PARTNER_NAME)
    buyers = {
        key: Organisation(kind=OrganisationKind.buyer, name=name, country=country)
        for key, (name, country, _, _) in BUYERS.items()
    }
    session.add_all([partner, *buyers.values()])
    await session.flush()

    user(Role.partner, PARTNER_USER[0], PARTNER_USER[1], organisation_id=partner.id)
    experts = {
        key: user(Role.expert, local, name, organisation_id=partner.id, certified_until=certified_until)
        for key, (local, name, _) in EXPERTS.items()
    }
    for key, (_, _, local, person) in BUYERS.items():
        user(Role.buyer, local, person, organisation_id=buyers[key].id)

    secret = security.new_client_secret()
    client = ApiClient(
        organisation_id=buyers["evergreen"].id,
        name=DEMO_CLIENT_NAME,
        client_id="s4c_" + secrets.token_hex(12),
        secret_hash=security.hash_client_secret(secret),
        secret_prefix=secret[:12],
        role=Role.buyer,
    )
    session.add(client)
    await session.flush()

    summary = DemoSummary(
        created=True,
        password=DEMO_PASSWORD,
        partner_id=partner.id,
        logins=_planned_logins(),
        api_client_id=client.client_id,
        api_client_secret=secret,
    )
    for story in STORIES:
        enterprise = await _story(session, story, partner, experts, buyers, user)
        summary.enterprises[story["key"]] = enterprise.id
    await session.flush()
    await progress.refresh(session, summary.enterprises.values())
    return summary


async def _story(
    session: AsyncSession,
    story: dict[str, Any],
    partner: Organisation,
    experts: dict[str, User],
    buyers: dict[str, Organisation],
    user: Any,
) -> Enterprise:
    local, sme_name, _ = story["sme"]
    female, male = story["employees"]
    enterprise = Enterprise(
        name=story["name"],
        country=story["country"],
        sector=story["sector"],
        partner_id=partner.id,
        employees_female=female,
        employees_male=male,
        products=story["products"],
        output_unit=story["output_unit"],
        contact_email=_email(local),
    )
    session.add(enterprise)
    await session.flush()
    sme: User = user(Role.sme, local, sme_name, enterprise_id=enterprise.id)
    expert = experts[story["expert"]]
    session.add(EnterpriseExpert(enterprise_id=enterprise.id, user_id=expert.id, created_at=_at(date(2026, 3, 1))))
    session.add(
        SupplierLink(
            enterprise_id=enterprise.id,
            buyer_id=buyers[story["buyer"]].id,
            status=LinkStatus.active,
            accepted_at=_at(date(2026, 6, 1)),
        )
    )

    # Trainings: the prerequisite module first, then the two-day SCORE4Climate workshop.
    participants = [
        {"role": role, "gender": gender, **({"name": name} if name else {})}
        for role, gender, name in story["participants"]
    ]
    prerequisite_title = {
        Module.workplace_cooperation: "Workplace cooperation",
        Module.score_basics: "SCORE Basics",
    }[story["prerequisite"]]
    sessions = [
        (story["prerequisite"], f"{prerequisite_title}, {story['place']}", date(2026, 1, 20), date(2026, 1, 21)),
        (Module.score4climate, f"SCORE4Climate workshop, {story['place']}", date(2026, 2, 17), date(2026, 2, 18)),
    ]
    workshop: Training | None = None
    for module, title, start, end in sessions:
        training = Training(
            partner_id=partner.id,
            module=module,
            title=title,
            start_date=start,
            end_date=end,
            place=story["place"],
            status=TrainingStatus.completed,
        )
        session.add(training)
        await session.flush()
        session.add(TrainingTrainer(training_id=training.id, user_id=expert.id))
        session.add(
            Enrollment(
                training_id=training.id,
                enterprise_id=enterprise.id,
                participants=participants,
                attended=True,
                completed_at=_at(end, 16),
            )
        )
        workshop = training
    assert workshop is not None
    workshop_day = workshop.end_date

    visits = []
    for day, kind, findings in story["visits"]:
        visit = Visit(
            enterprise_id=enterprise.id,
            expert_id=expert.id,
            scheduled_at=_at(day, 8),
            kind=kind,
            status=VisitStatus.completed,
            findings=findings,
        )
        session.add(visit)
        visits.append(visit)
    await session.flush()

    team = [
        {"role": role, "gender": gender, **({"name": name} if name else {})}
        for role, gender, name in story["participants"][:3]
    ]
    ideas: list[Idea] = []
    for title, category, description, savings, investment, effect, status, from_visit in story["ideas"]:
        origin = visits[from_visit] if from_visit is not None else None
        created = origin.scheduled_at if origin else _at(workshop_day, 15)
        idea = Idea(
            enterprise_id=enterprise.id,
            title=title,
            description=description,
            category=category,
            status=status,
            training_id=None if origin else workshop.id,
            visit_id=origin.id if origin else None,
            savings_amount=Decimal(savings),
            savings_currency=story["currency"],
            investment_amount=Decimal(investment),
            investment_currency=story["currency"],
            effect_metric=effect[0] if effect else None,
            effect_change=float(effect[1]) if effect else None,
            owner_team=team,
            created_at=created,
            updated_at=created,
        )
        session.add(idea)
        await session.flush()
        source = IdeaStatus.proposed
        for target in PATHS[status]:
            moved_at = max(created, _at(workshop_day, 15) + timedelta(days=STEP_DAYS[target]))
            actor = sme if target in (IdeaStatus.in_progress, IdeaStatus.implemented) else expert
            session.add(
                IdeaTransition(
                    idea_id=idea.id,
                    from_status=source,
                    to_status=target,
                    actor=f"user:{actor.id}",
                    note="Too costly for now; revisit when the lease ends." if target is IdeaStatus.rejected else None,
                    created_at=moved_at,
                )
            )
            idea.updated_at = moved_at
            source = target
        ideas.append(idea)
    await session.flush()

    # Ideas discussed on each visit: the consultation and later visits follow up every open idea.
    for visit in visits[1:]:
        for idea in ideas:
            if idea.status is not IdeaStatus.rejected:
                session.add(VisitIdea(visit_id=visit.id, idea_id=idea.id))

    # Results: a baseline year (measured with the expert at intake), then monthly self-reports,
    # some verified by the expert.
    for metric, (baseline, monthly, verified, idea_index) in story["results"].items():
        session.add(
            Result(
                enterprise_id=enterprise.id,
                metric=metric,
                period_start=BASELINE[0],
                period_end=BASELINE[1],
                value=float(baseline),
                is_baseline=True,
                source=ResultSource.expert,
                recorded_by=f"user:{expert.id}",
                verified_at=visits[0].scheduled_at + timedelta(hours=6),
                verified_by=expert.id,
            )
        )
        for index, ((start, end), value) in enumerate(zip(MONTHS, monthly, strict=True)):
            is_verified = index in verified
            session.add(
                Result(
                    enterprise_id=enterprise.id,
                    metric=metric,
                    period_start=start,
                    period_end=end,
                    value=float(value),
                    idea_id=ideas[idea_index].id,
                    source=ResultSource.self_reported,
                    recorded_by=f"user:{sme.id}",
                    verified_at=_at(end + timedelta(days=5), 11) if is_verified else None,
                    verified_by=expert.id if is_verified else None,
                )
            )
    enterprise.updated_at = utcnow()
    return enterprise
