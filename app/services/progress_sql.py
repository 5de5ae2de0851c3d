"""The SQL that computes progress records (docs/progress.md) for a set of enterprises.

Everything is computed in PostgreSQL in one statement: baseline and latest per metric
(`DISTINCT ON`), annualised flow rates, changes, emission conversion with the country's
factor or the global default, idea counts and programme milestones. Numbers are rounded to
two decimals at the edge, where the contract shows them.
"""

from __future__ import annotations

from app.models.enums import IdeaStatus

FORMULA = 2
"""The version of this computation, stored with each record: records built by an older one
are rebuilt after migrating (`progress.rebuild_outdated`). Raise it whenever the record's
content changes for the same data."""


def _r2(expr: str) -> str:
    return f"round(({expr})::numeric, 2)::float8"


def _small(expr: str) -> str:
    """Two decimals, or four significant digits where two would show 0 (an intensity of a few
    grams per unit)."""
    x = f"({expr})::numeric"
    return (
        f"(CASE WHEN abs({x}) >= 0.005 OR {x} = 0 THEN round({x}, 2)"
        f" ELSE round({x}, 3 - floor(log(abs({x})))::int) END)::float8"
    )


def _factor_at(period_end: str) -> str:
    return f"""SELECT f.id, f.kg_co2e_per_unit FROM emission_factors f
        WHERE f.metric = c.code AND (f.country = e.country OR f.country IS NULL)
        ORDER BY (f.country IS NULL),
                 coalesce(f.valid_from, '-infinity'::date) <= {period_end} DESC,
                 CASE WHEN coalesce(f.valid_from, '-infinity'::date) <= {period_end}
                      THEN coalesce(f.valid_from, '-infinity'::date) END DESC NULLS LAST,
                 f.valid_from ASC NULLS FIRST, f.year DESC, f.id
        LIMIT 1"""


def _apportioned(tonnes: str) -> str:
    """`tonnes` in whole hundredths, rounded down, plus one for the metrics with the largest
    remainders until the enterprise's sum equals its rounded total."""
    cents = f"({tonnes})::numeric * 100"
    return (
        f"floor({cents}) + CASE WHEN row_number() OVER (PARTITION BY enterprise_id"
        f" ORDER BY {cents} - floor({cents}) DESC, code)"
        f" <= round(sum({cents}) OVER (PARTITION BY enterprise_id)) - sum(floor({cents})) OVER (PARTITION BY enterprise_id)"
        f" THEN 1 ELSE 0 END"
    )


_BY_STATUS = ", ".join(f"'{s.value}', coalesce(i.by_status->>'{s.value}', '0')::int" for s in IdeaStatus)

COMPUTE = f"""
WITH ent AS (
    SELECT e.id, e.name, e.country, e.sector, e.partner_id, e.output_unit::text AS output_unit
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
           m.code, m.unit, m.direction::text AS direction, m.kind::text AS kind, m.ghg_scope AS scope,
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
conv AS (
    -- Each side of a flow metric with a scope converts with the factor valid at its own
    -- period_end: the enterprise's country's factors if there are any, else the global ones;
    -- among them the latest valid_from on or before period_end (null = always valid), else the
    -- earliest; then the newest year.
    SELECT c.*, fb.id AS b_fid, fl.id AS l_fid,
           c.b_py * fb.kg_co2e_per_unit / 1000 AS b_t,
           c.l_py * fl.kg_co2e_per_unit / 1000 AS l_t
    FROM cmp c
    JOIN ent e ON e.id = c.enterprise_id
    LEFT JOIN LATERAL ({_factor_at("c.be")}) fb ON c.kind = 'flow' AND c.scope IS NOT NULL AND c.bv IS NOT NULL
    LEFT JOIN LATERAL ({_factor_at("c.le")}) fl ON c.kind = 'flow' AND c.scope IS NOT NULL AND c.lv IS NOT NULL
),
counted AS (
    -- The metrics the totals count (a baseline and a latest tCO2e), in hundredths of a tonne,
    -- rounded so that each enterprise's metrics add up exactly to its rounded totals (largest
    -- remainder): the by-scope figures and a spreadsheet's column sums then equal the totals.
    SELECT enterprise_id, code, scope, lver, b_t, l_t,
           {_apportioned("b_t")} AS b_cents,
           {_apportioned("l_t")} AS l_cents
    FROM conv WHERE b_t IS NOT NULL AND l_t IS NOT NULL
),
metric_json AS (
    SELECT v.enterprise_id, jsonb_agg(jsonb_build_object(
        'metric', v.code, 'unit', v.unit, 'direction', v.direction, 'ghg_scope', v.scope,
        'baseline', CASE WHEN v.bv IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
            'value', v.bv, 'per_year', {_r2("v.b_py")}, 'period_start', v.bs, 'period_end', v.be)) END,
        'latest', CASE WHEN v.lv IS NULL THEN NULL ELSE jsonb_strip_nulls(jsonb_build_object(
            'value', v.lv, 'per_year', {_r2("v.l_py")}, 'period_start', v.ls, 'period_end', v.le, 'verified', v.lver)) END,
        'change_abs', {_r2("v.lc - v.bc")},
        'change_pct', CASE WHEN v.bc = 0 THEN NULL ELSE {_r2("(v.lc - v.bc) / v.bc * 100")} END,
        'improved', CASE WHEN v.bc IS NULL OR v.lc IS NULL THEN NULL
                         WHEN v.direction = 'increase' THEN v.lc > v.bc ELSE v.lc < v.bc END,
        'tco2e', CASE WHEN v.b_t IS NULL AND v.l_t IS NULL THEN NULL ELSE jsonb_build_object(
            'baseline_per_year', coalesce(k.b_cents / 100, round(v.b_t::numeric, 2))::float8,
            'latest_per_year', coalesce(k.l_cents / 100, round(v.l_t::numeric, 2))::float8) END
    ) ORDER BY v.code) AS metrics
    FROM conv v
    LEFT JOIN counted k ON k.enterprise_id = v.enterprise_id AND k.code = v.code
    GROUP BY v.enterprise_id
),
totals AS (
    SELECT enterprise_id,
           sum(b_cents) / 100 AS bt, sum(l_cents) / 100 AS lt,
           sum(b_t) AS bt_raw, sum(l_t) AS lt_raw,
           sum(l_t) FILTER (WHERE lver) AS lt_verified
    FROM counted GROUP BY enterprise_id
),
scopes AS (
    SELECT enterprise_id, jsonb_agg(jsonb_build_object(
        'scope', scope,
        'baseline_tco2e_per_year', (b / 100)::float8,
        'latest_tco2e_per_year', (l / 100)::float8,
        'reduction_tco2e_per_year', ((b - l) / 100)::float8) ORDER BY scope) AS by_scope
    FROM (SELECT enterprise_id, scope, sum(b_cents) AS b, sum(l_cents) AS l FROM counted GROUP BY 1, 2) s
    GROUP BY enterprise_id
),
output AS (
    SELECT enterprise_id, b_py, l_py FROM cmp
    WHERE code = 'production_output' AND b_py > 0 AND l_py > 0
),
intensity AS (
    SELECT t.enterprise_id, t.bt_raw * 1000 / o.b_py AS bi, t.lt_raw * 1000 / o.l_py AS li
    FROM totals t JOIN output o ON o.enterprise_id = t.enterprise_id
),
used AS (
    SELECT enterprise_id, fid, array_agg(side ORDER BY side) AS sides
    FROM (SELECT enterprise_id, b_fid AS fid, 'baseline' AS side FROM conv WHERE b_t IS NOT NULL
          UNION ALL
          SELECT enterprise_id, l_fid, 'latest' FROM conv WHERE l_t IS NOT NULL) u
    GROUP BY enterprise_id, fid
),
factors_json AS (
    SELECT u.enterprise_id, jsonb_agg(jsonb_build_object(
        'metric', f.metric, 'scope', m.ghg_scope, 'country', f.country, 'kg_co2e_per_unit', f.kg_co2e_per_unit,
        'source', f.source, 'year', f.year, 'valid_from', f.valid_from, 'applies_to', to_jsonb(u.sides)
    ) ORDER BY f.metric, f.valid_from NULLS FIRST, f.year, f.id) AS used
    FROM used u
    JOIN emission_factors f ON f.id = u.fid
    JOIN metrics m ON m.code = f.metric
    GROUP BY u.enterprise_id
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
               'baseline_tco2e_per_year', em.bt::float8,
               'latest_tco2e_per_year', em.lt::float8,
               'reduction_tco2e_per_year', (em.bt - em.lt)::float8,
               'reduction_pct', CASE WHEN em.bt_raw > 0 THEN {_r2("(em.bt_raw - em.lt_raw) / em.bt_raw * 100")} END,
               'by_scope', coalesce(sc.by_scope, '[]'::jsonb),
               'verified_share', CASE WHEN em.lt_raw > 0 THEN {_r2("coalesce(em.lt_verified, 0) / em.lt_raw")} END,
               'intensity', CASE WHEN it.enterprise_id IS NOT NULL THEN jsonb_build_object(
                   'output_unit', e.output_unit,
                   'baseline_kg_co2e_per_unit', {_small("it.bi")},
                   'latest_kg_co2e_per_unit', {_small("it.li")},
                   'change_pct', CASE WHEN it.bi = 0 THEN NULL ELSE {_r2("(it.li - it.bi) / it.bi * 100")} END) END,
               'factors', coalesce(fj.used, '[]'::jsonb))
       ) AS record
FROM ent e
LEFT JOIN modules mo ON mo.enterprise_id = e.id
LEFT JOIN vis v ON v.enterprise_id = e.id
LEFT JOIN idea_counts i ON i.enterprise_id = e.id
LEFT JOIN savings s ON s.enterprise_id = e.id
LEFT JOIN metric_json mj ON mj.enterprise_id = e.id
LEFT JOIN totals em ON em.enterprise_id = e.id
LEFT JOIN scopes sc ON sc.enterprise_id = e.id
LEFT JOIN intensity it ON it.enterprise_id = e.id
LEFT JOIN factors_json fj ON fj.enterprise_id = e.id
"""

# Stamped after the caller took the progress lock: strictly increasing, in commit order.
UPSERT = f"""
WITH stamp AS (
    SELECT greatest(clock_timestamp(),
                    coalesce((SELECT max(updated_at) FROM progress_records), '-infinity') + interval '1 microsecond')
           AS ts
),
computed AS ({COMPUTE})
INSERT INTO progress_records AS p (enterprise_id, partner_id, country, sector, record, body, updated_at, formula)
SELECT c.enterprise_id, c.partner_id, c.country, c.sector, s.record, s.record::text, stamp.ts, {FORMULA}
FROM computed c
CROSS JOIN stamp
CROSS JOIN LATERAL (
    SELECT c.record || jsonb_build_object(
        'updated_at', to_char(stamp.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) AS record
) s
ON CONFLICT (enterprise_id) DO UPDATE
SET partner_id = EXCLUDED.partner_id, country = EXCLUDED.country, sector = EXCLUDED.sector,
    record = EXCLUDED.record, body = EXCLUDED.body, updated_at = EXCLUDED.updated_at, formula = EXCLUDED.formula
"""

# A transaction-scoped advisory lock key ("s4c progress").
LOCK_KEY = 0x5343_0001
