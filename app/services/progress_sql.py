"""The SQL that computes progress records (docs/progress.md) for a set of enterprises.

Everything is computed in PostgreSQL in one statement: baseline and latest per metric
(`DISTINCT ON`), annualised flow rates, changes, emission conversion with the country's
factor or the global default, idea counts and programme milestones. Numbers are rounded to
two decimals at the edge, where the contract shows them.
"""

from __future__ import annotations

from app.models.enums import IdeaStatus


def _r2(expr: str) -> str:
    return f"round(({expr})::numeric, 2)::float8"


_BY_STATUS = ", ".join(f"'{s.value}', coalesce(i.by_status->>'{s.value}', '0')::int" for s in IdeaStatus)

COMPUTE = f"""
WITH ent AS (
    SELECT e.id, e.name, e.country, e.sector, e.partner_id
    FROM enterprises e WHERE e.id = ANY(CAST(:ids AS uuid[]))
),
modules AS (
    SELECT en.enterprise_id,
           array_agg(DISTINCT t.module::text ORDER BY t.module::text) AS modules,
           min(en.completed_at) FILTER (WHERE t.module = 'score4climate') AS s4c_completed
    FROM enrollments en JOIN trainings t ON t.id = en.training_id
    WHERE en.enterprise_id IN (SELECT id FROM ent) AND en.completed_at IS NOT NULL
    GROUP BY en.enterprise_id
),
vis AS (
    SELECT enterprise_id, count(*) AS completed, max(scheduled_at) AS last_at
    FROM visits
    WHERE enterprise_id IN (SELECT id FROM ent) AND status = 'completed'
    GROUP BY enterprise_id
),
idea_counts AS (
    SELECT enterprise_id, jsonb_object_agg(status, n) AS by_status
    FROM (SELECT enterprise_id, status::text AS status, count(*) AS n
          FROM ideas WHERE enterprise_id IN (SELECT id FROM ent) GROUP BY 1, 2) s
    GROUP BY enterprise_id
),
savings AS (
    SELECT enterprise_id,
           jsonb_agg(jsonb_build_object('amount', amount::float8, 'currency', currency) ORDER BY currency) AS savings
    FROM (SELECT enterprise_id, savings_currency AS currency, sum(savings_amount) AS amount
          FROM ideas
          WHERE enterprise_id IN (SELECT id FROM ent) AND status IN ('implemented', 'verified')
                AND savings_amount IS NOT NULL AND savings_currency IS NOT NULL
          GROUP BY 1, 2) s
    GROUP BY enterprise_id
),
base AS (
    SELECT r.enterprise_id, r.metric, r.value, r.period_start, r.period_end
    FROM results r WHERE r.enterprise_id IN (SELECT id FROM ent) AND r.is_baseline
),
latest AS (
    SELECT DISTINCT ON (r.enterprise_id, r.metric)
           r.enterprise_id, r.metric, r.value, r.period_start, r.period_end, r.verified_at IS NOT NULL AS verified
    FROM results r
    WHERE r.enterprise_id IN (SELECT id FROM ent) AND NOT r.is_baseline
    ORDER BY r.enterprise_id, r.metric, r.period_end DESC, r.period_start DESC, r.id DESC
),
pairs AS (
    SELECT coalesce(b.enterprise_id, l.enterprise_id) AS enterprise_id,
           m.code, m.unit, m.direction::text AS direction, m.kind::text AS kind,
           b.value AS bv, b.period_start AS bs, b.period_end AS be,
           l.value AS lv, l.period_start AS ls, l.period_end AS le, l.verified AS lver,
           CASE WHEN m.kind = 'flow' THEN b.value / (b.period_end - b.period_start + 1) * 365 END AS b_py,
           CASE WHEN m.kind = 'flow' THEN l.value / (l.period_end - l.period_start + 1) * 365 END AS l_py
    FROM base b
    FULL JOIN latest l ON l.enterprise_id = b.enterprise_id AND l.metric = b.metric
    JOIN metrics m ON m.code = coalesce(b.metric, l.metric)
),
cmp AS (
    SELECT p.*,
           CASE WHEN p.kind = 'flow' THEN p.b_py ELSE p.bv END AS bc,
           CASE WHEN p.kind = 'flow' THEN p.l_py ELSE p.lv END AS lc
    FROM pairs p
),
metric_json AS (
    SELECT enterprise_id, jsonb_agg(jsonb_build_object(
        'metric', code, 'unit', unit, 'direction', direction,
        'baseline', CASE WHEN bv IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
            'value', bv, 'per_year', {_r2("b_py")}, 'period_start', bs, 'period_end', be)) END,
        'latest', CASE WHEN lv IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
            'value', lv, 'per_year', {_r2("l_py")}, 'period_start', ls, 'period_end', le, 'verified', lver)) END,
        'change_abs', {_r2("lc - bc")},
        'change_pct', CASE WHEN bc = 0 THEN NULL ELSE {_r2("(lc - bc) / bc * 100")} END,
        'improved', CASE WHEN bc IS NULL OR lc IS NULL THEN NULL
                         WHEN direction = 'increase' THEN lc > bc ELSE lc < bc END
    ) ORDER BY code) AS metrics
    FROM cmp GROUP BY enterprise_id
),
factors AS (
    SELECT DISTINCT ON (c.enterprise_id, c.code)
           c.enterprise_id, c.code, c.b_py, c.l_py,
           f.kg_co2e_per_unit, f.country, f.source, f.year
    FROM cmp c
    JOIN ent e ON e.id = c.enterprise_id
    JOIN emission_factors f ON f.metric = c.code AND (f.country = e.country OR f.country IS NULL)
    WHERE c.kind = 'flow' AND c.b_py IS NOT NULL AND c.l_py IS NOT NULL
    ORDER BY c.enterprise_id, c.code, (f.country IS NULL), f.year DESC
),
emissions AS (
    SELECT enterprise_id,
           sum(b_py * kg_co2e_per_unit) / 1000 AS bt,
           sum(l_py * kg_co2e_per_unit) / 1000 AS lt,
           jsonb_agg(jsonb_build_object('metric', code, 'country', country, 'kg_co2e_per_unit', kg_co2e_per_unit,
                                        'source', source, 'year', year) ORDER BY code) AS used
    FROM factors GROUP BY enterprise_id
)
SELECT e.id AS enterprise_id, e.partner_id, e.country, e.sector,
       jsonb_build_object(
           'enterprise', jsonb_build_object('id', e.id, 'name', e.name, 'country', e.country, 'sector', e.sector),
           'programme', jsonb_build_object(
               'modules_completed', coalesce(to_jsonb(mo.modules), '[]'::jsonb),
               'score4climate_completed_on', (mo.s4c_completed AT TIME ZONE 'UTC')::date,
               'visits_completed', coalesce(v.completed, 0),
               'last_visit_on', (v.last_at AT TIME ZONE 'UTC')::date),
           'ideas', jsonb_build_object(
               'by_status', jsonb_build_object({_BY_STATUS}),
               'implemented_estimated_annual_savings', coalesce(s.savings, '[]'::jsonb)),
           'metrics', coalesce(mj.metrics, '[]'::jsonb),
           'emissions', jsonb_build_object(
               'baseline_tco2e_per_year', {_r2("em.bt")},
               'latest_tco2e_per_year', {_r2("em.lt")},
               'reduction_tco2e_per_year', {_r2("em.bt - em.lt")},
               'reduction_pct', CASE WHEN em.bt > 0 THEN {_r2("(em.bt - em.lt) / em.bt * 100")} END,
               'factors', coalesce(em.used, '[]'::jsonb))
       ) AS record
FROM ent e
LEFT JOIN modules mo ON mo.enterprise_id = e.id
LEFT JOIN vis v ON v.enterprise_id = e.id
LEFT JOIN idea_counts i ON i.enterprise_id = e.id
LEFT JOIN savings s ON s.enterprise_id = e.id
LEFT JOIN metric_json mj ON mj.enterprise_id = e.id
LEFT JOIN emissions em ON em.enterprise_id = e.id
"""

# Stamped after the caller took the progress lock: strictly increasing, in commit order.
UPSERT = f"""
WITH stamp AS (
    SELECT greatest(clock_timestamp(),
                    coalesce((SELECT max(updated_at) FROM progress_records), '-infinity') + interval '1 microsecond')
           AS ts
),
computed AS ({COMPUTE})
INSERT INTO progress_records AS p (enterprise_id, partner_id, country, sector, record, body, updated_at)
SELECT c.enterprise_id, c.partner_id, c.country, c.sector, s.record, s.record::text, stamp.ts
FROM computed c
CROSS JOIN stamp
CROSS JOIN LATERAL (
    SELECT c.record || jsonb_build_object(
        'updated_at', to_char(stamp.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) AS record
) s
ON CONFLICT (enterprise_id) DO UPDATE
SET partner_id = EXCLUDED.partner_id, country = EXCLUDED.country, sector = EXCLUDED.sector,
    record = EXCLUDED.record, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at
"""

# A transaction-scoped advisory lock key ("s4c progress").
LOCK_KEY = 0x5343_0001
