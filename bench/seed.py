"""Seed the benchmark database fast: every table is filled by `INSERT ... SELECT` over
`generate_series` inside PostgreSQL (no rows travel through Python), results in parallel
chunks. Ids are deterministic (`bench_uuid(kind, n)`) so the script can name them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import asyncpg

ENTERPRISES = 10_000
BUYERS = 50
PARTNERS = 6  # one per country
EXPERTS_PER_PARTNER = 5
COUNTRIES = ["IN", "GH", "CN", "VN", "BD", "ID"]
CURRENCIES = ["INR", "GHS", "CNY", "VND", "BDT", "IDR"]
SECTORS = ["2219", "1311", "1410", "1071", "2511", "2394", "1709", "2013"]

# Id kinds (first 8 hex digits of a bench uuid).
METRIC_SLOTS = 64
"""Room for this many catalogue metrics in the results' seeded ids (one block per enterprise)."""
K_ORG, K_USER, K_ENT, K_TRAINING, K_ENROLL, K_IDEA, K_VISIT, K_RESULT, K_LINK = range(1, 10)
ADMIN_USER = 1


def buyer_org(b: int) -> int:
    return 100 + b


def buyer_user(b: int) -> int:
    return 2000 + b


def links_of(b: int) -> int:
    """Active suppliers of buyer b: exactly 2,000 for buyer 0, 200..2,000 for the others."""
    return 2000 if b == 0 else 200 + (b * 367) % 1801


def bench_uuid(kind: int, n: int) -> str:
    return f"{kind:08x}-0000-4000-8000-{n:012x}"


FUNCTION = """
CREATE OR REPLACE FUNCTION bench_uuid(k int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
$$ SELECT (lpad(to_hex(k), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid $$
"""

_ARR = "ARRAY[{}]".format
COUNTRY_ARR = _ARR(",".join(f"'{c}'" for c in COUNTRIES))
CURRENCY_ARR = _ARR(",".join(f"'{c}'" for c in CURRENCIES))
SECTOR_ARR = _ARR(",".join(f"'{c}'" for c in SECTORS))

BASE_SQL = [
    # Partners (one per country) and buyers.
    f"""INSERT INTO organisations (id, created_at, updated_at, kind, name, country)
        SELECT bench_uuid({K_ORG}, p), now(), now(), 'partner', 'Partner ' || ({COUNTRY_ARR})[p], ({COUNTRY_ARR})[p]
        FROM generate_series(1, {PARTNERS}) p""",
    f"""INSERT INTO organisations (id, created_at, updated_at, kind, name, country)
        SELECT bench_uuid({K_ORG}, 100 + b), now(), now(), 'buyer', 'Lead buyer ' || b, NULL
        FROM generate_series(0, {BUYERS - 1}) b""",
    # Admin, buyer users, experts (password hashes are never checked: tokens are minted).
    f"""INSERT INTO users (id, created_at, updated_at, email, password_hash, role, full_name, is_active, auth_version)
        VALUES (bench_uuid({K_USER}, {ADMIN_USER}), now(), now(), 'admin@bench.example', 'x', 'admin', 'Bench admin', true, 1)""",
    f"""INSERT INTO users (id, created_at, updated_at, email, password_hash, role, full_name, organisation_id,
                           is_active, auth_version)
        SELECT bench_uuid({K_USER}, 2000 + b), now(), now(), 'buyer' || b || '@bench.example', 'x', 'buyer',
               'Buyer ' || b, bench_uuid({K_ORG}, 100 + b), true, 1
        FROM generate_series(0, {BUYERS - 1}) b""",
    f"""INSERT INTO users (id, created_at, updated_at, email, password_hash, role, full_name, organisation_id,
                           certified_until, is_active, auth_version)
        SELECT bench_uuid({K_USER}, 1000 + p * 10 + k), now(), now(), 'expert' || p || '.' || k || '@bench.example', 'x',
               'expert', 'Expert ' || p || '.' || k, bench_uuid({K_ORG}, p), date '2027-12-31', true, 1
        FROM generate_series(1, {PARTNERS}) p, generate_series(0, {EXPERTS_PER_PARTNER - 1}) k""",
    # Enterprises: country n % 6, the partner of that country, ISIC sectors.
    f"""INSERT INTO enterprises (id, created_at, updated_at, name, country, sector, partner_id,
                                 employees_female, employees_male, products, contact_email)
        SELECT bench_uuid({K_ENT}, n), now(), now(), 'Enterprise ' || n, ({COUNTRY_ARR})[n % 6 + 1],
               ({SECTOR_ARR})[(n * 7) % 8 + 1], bench_uuid({K_ORG}, n % 6 + 1),
               10 + n % 90, 20 + n % 130, 'products of enterprise ' || n, 'plant' || n || '@bench.example'
        FROM generate_series(1, {ENTERPRISES}) n""",
    f"""INSERT INTO enterprise_experts (enterprise_id, user_id, created_at)
        SELECT bench_uuid({K_ENT}, n), bench_uuid({K_USER}, 1000 + (n % 6 + 1) * 10 + (n / 6) % {EXPERTS_PER_PARTNER}), now()
        FROM generate_series(1, {ENTERPRISES}) n""",
    # Trainings: per partner one session of each module (m = 1..3).
    f"""INSERT INTO trainings (id, created_at, updated_at, partner_id, module, title, start_date, end_date, place, status)
        SELECT bench_uuid({K_TRAINING}, p * 10 + m), now(), now(), bench_uuid({K_ORG}, p),
               (ARRAY['workplace_cooperation', 'score_basics', 'score4climate'])[m]::training_module,
               'Module ' || m || ' for partner ' || p, date '2024-01-15' + (m - 1) * 90, date '2024-01-16' + (m - 1) * 90,
               'Training centre ' || p, 'completed'
        FROM generate_series(1, {PARTNERS}) p, generate_series(1, 3) m""",
    # Two enrollments per enterprise: workplace cooperation, then score basics or SCORE4Climate.
    f"""INSERT INTO enrollments (id, created_at, updated_at, training_id, enterprise_id, participants, attended, completed_at)
        SELECT bench_uuid({K_ENROLL}, n * 2 + j), now(), now(),
               bench_uuid({K_TRAINING}, (n % 6 + 1) * 10 + CASE WHEN j = 0 THEN 1 WHEN n % 3 = 0 THEN 3 ELSE 2 END),
               bench_uuid({K_ENT}, n),
               '[{{"role": "manager", "gender": "female"}}, {{"role": "worker", "gender": "male"}}]'::jsonb, true,
               CASE WHEN j = 0 OR n % 4 <> 1 THEN timestamptz '2024-02-01 10:00+00' + (j * 120 + n % 30) * interval '1 day' END
        FROM generate_series(1, {ENTERPRISES}) n, generate_series(0, 1) j""",
    # Four visits per enterprise by its expert: three completed, one scheduled.
    f"""INSERT INTO visits (id, created_at, updated_at, enterprise_id, expert_id, scheduled_at, kind, status, findings)
        SELECT bench_uuid({K_VISIT}, n * 4 + k), now(), now(), bench_uuid({K_ENT}, n),
               bench_uuid({K_USER}, 1000 + (n % 6 + 1) * 10 + (n / 6) % {EXPERTS_PER_PARTNER}),
               timestamptz '2024-03-01 09:00+00' + (k * 150 + n % 60) * interval '1 day',
               (ARRAY['intake', 'consultation', 'follow_up', 'monitoring'])[k + 1]::visit_kind,
               (CASE WHEN k < 3 THEN 'completed' ELSE 'scheduled' END)::visit_status,
               'Findings of visit ' || k
        FROM generate_series(1, {ENTERPRISES}) n, generate_series(0, 3) k""",
    # Five ideas per enterprise over the life cycle; implemented/verified ones carry savings.
    f"""INSERT INTO ideas (id, created_at, updated_at, enterprise_id, title, description, category, status,
                           savings_amount, savings_currency, investment_amount, investment_currency,
                           effect_metric, effect_change, owner_team)
        SELECT bench_uuid({K_IDEA}, n * 5 + k), now(), now(), bench_uuid({K_ENT}, n), 'Idea ' || k || ' of ' || n,
               'An improvement idea', (ARRAY['energy', 'water', 'waste', 'materials', 'productivity'])[k + 1]::idea_category,
               (ARRAY['proposed', 'approved', 'in_progress', 'implemented', 'verified', 'rejected'])[(n + k) % 6 + 1]::idea_status,
               1000 + (n * 37 + k * 11) % 90000, ({CURRENCY_ARR})[n % 6 + 1],
               5000 + (n * 13 + k) % 200000, ({CURRENCY_ARR})[n % 6 + 1],
               (ARRAY['electricity', 'water', 'solid_waste', 'material_waste_rate', 'production_output'])[k + 1],
               -100 - k * 10, '[{{"role": "manager"}}, {{"role": "worker"}}]'::jsonb
        FROM generate_series(1, {ENTERPRISES}) n, generate_series(0, 4) k""",
    # Supplier links: buyer b has links_of(b) active suppliers (a contiguous block, all countries),
    # buyer 0 also 100 pending invitations.
    f"""INSERT INTO supplier_links (id, created_at, updated_at, enterprise_id, buyer_id, status, accepted_at)
        SELECT bench_uuid({K_LINK}, b * 100000 + i), now(), now(),
               bench_uuid({K_ENT}, (i + b * 197) % {ENTERPRISES} + 1), bench_uuid({K_ORG}, 100 + b), 'active', now()
        FROM generate_series(0, {BUYERS - 1}) b,
             LATERAL generate_series(0, CASE WHEN b = 0 THEN 2000 ELSE 200 + (b * 367) % 1801 END - 1) i""",
    f"""INSERT INTO supplier_links (id, created_at, updated_at, enterprise_id, buyer_id, status)
        SELECT bench_uuid({K_LINK}, 90000 + i), now(), now(), bench_uuid({K_ENT}, 2000 + i + 1),
               bench_uuid({K_ORG}, 100), 'pending'
        FROM generate_series(0, 99) i""",
]

# Per metric: a typical baseline (annual amount for flow metrics, the level otherwise).
SCALES = {
    "production_output": 50_000,
    "yield_rate": 78,
    "defect_rate": 6,
    "material_waste_rate": 18,
    "solid_waste": 40_000,
    "water": 12_000,
    "electricity": 250_000,
    "diesel": 10_000,
    "petrol": 3_000,
    "natural_gas": 20_000,
    "lpg": 4_000,
    "coal": 60_000,
    "direct_co2e": 80,
    "clients_served": 40,
    "work_accidents": 6,
    "worker_turnover": 22,
}
_SCALE_CASE = "CASE m.code " + " ".join(f"WHEN '{c}' THEN {v}" for c, v in SCALES.items()) + " ELSE 100 END"

# 25 results per enterprise and metric: a 2023 baseline and 24 monthly results (2024-01..2025-12),
# drifting towards the metric's better direction by an enterprise-specific amount, with noise.
RESULTS_SQL = f"""
WITH m AS (
    SELECT code, (row_number() OVER (ORDER BY code) - 1)::int AS idx, unit = '%' AS pct, kind::text AS kind,
           CASE WHEN direction = 'increase' THEN 1 ELSE -1 END AS sgn, ({_SCALE_CASE})::float8 AS scale
    FROM metrics m
),
b AS (
    SELECT e.n, bench_uuid({K_ENT}, e.n) AS eid, m.*,
           m.scale * (0.6 + 0.8 * random()) AS base, 0.4 * random() - 0.05 AS gain
    FROM generate_series($1::int, $2::int) e(n) CROSS JOIN m
),
v AS (
    SELECT b.*, mo,
           CASE WHEN mo = 0 THEN b.base
                WHEN b.kind = 'flow' THEN b.base / 12 * (1 + b.sgn * b.gain * mo / 24.0) * (0.9 + 0.2 * random())
                ELSE b.base * (1 + b.sgn * b.gain * mo / 24.0) * (0.95 + 0.1 * random()) END AS raw
    FROM b CROSS JOIN generate_series(0, 24) mo
)
INSERT INTO results (id, created_at, updated_at, enterprise_id, metric, period_start, period_end, value,
                     is_baseline, source, recorded_by, verified_at)
SELECT bench_uuid({K_RESULT}, (v.n::bigint * {METRIC_SLOTS} + v.idx) * 25 + v.mo), now(), now(), v.eid, v.code,
       CASE WHEN v.mo = 0 THEN date '2023-01-01' ELSE (date '2024-01-01' + (v.mo - 1) * interval '1 month')::date END,
       CASE WHEN v.mo = 0 THEN date '2023-12-31' ELSE (date '2024-01-01' + v.mo * interval '1 month')::date - 1 END,
       round((CASE WHEN v.pct THEN least(100, greatest(0, v.raw)) ELSE greatest(0, v.raw) END)::numeric, 2)::float8,
       v.mo = 0, (CASE WHEN v.mo % 3 = 0 THEN 'expert' ELSE 'self_reported' END)::result_source, 'bench',
       CASE WHEN v.mo > 0 AND random() < 0.5 THEN timestamptz '2026-01-15 00:00+00' END
FROM v
"""


async def _timed(label: str, step: Callable[[], Awaitable[object]]) -> None:
    start = time.perf_counter()
    await step()
    print(f"  {label:<44} {time.perf_counter() - start:7.2f} s", flush=True)


async def seed(dsn: str, chunk: int = 500, workers: int = 2) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(FUNCTION)
        for sql in BASE_SQL:
            name = sql.split("INTO", 1)[1].split("(", 1)[0].strip()
            await _timed(f"{name}", lambda sql=sql: conn.execute(sql))
    finally:
        await conn.close()

    ranges = [(lo, min(lo + chunk - 1, ENTERPRISES)) for lo in range(1, ENTERPRISES + 1, chunk)]
    queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    for item in ranges:
        queue.put_nowait(item)

    async def worker() -> None:
        c = await asyncpg.connect(dsn)
        try:
            await c.execute("SET synchronous_commit = off")
            while not queue.empty():
                lo, hi = queue.get_nowait()
                await c.execute(RESULTS_SQL, lo, hi)
        finally:
            await c.close()

    async def all_results() -> None:
        await asyncio.gather(*(worker() for _ in range(workers)))

    await _timed("results (10,000 enterprises x every metric x 25)", all_results)


async def finish(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DROP FUNCTION IF EXISTS bench_uuid(int, bigint)")
        await _timed("VACUUM ANALYZE", lambda: conn.execute("VACUUM ANALYZE"))
    finally:
        await conn.close()
