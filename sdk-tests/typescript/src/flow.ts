/**
 * The integrator's first hour, through a typed client generated from openapi.json
 * (openapi-typescript for the types, openapi-fetch for the calls; Node 20's built-in fetch).
 *
 * An admin creates an implementing partner and one of its staff; the partner logs in with the
 * password grant, enrols an enterprise, records an idea and moves it to `implemented`, records
 * a baseline and a later result, and reads the enterprise's progress record.
 *
 * Then the expert's mobile app: the partner adds a certified expert and assigns them; offline,
 * the app captures an idea and a visit under ids it chose itself; back online it syncs them (a
 * retry after a lost answer changes nothing), attaches a photo of the visit and reads it back.
 *
 *   BASE_URL=http://127.0.0.1:8000 ADMIN_EMAIL=... ADMIN_PASSWORD=... npm run flow
 */
import { createHash, randomUUID } from "node:crypto";

import createClient, { type Client } from "openapi-fetch";

import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
type IdeaStatus = Schemas["IdeaStatus"];

const baseUrl = required("BASE_URL");
const run = Math.random().toString(16).slice(2, 10); // the flow can run twice on one database

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Equal within `tolerance` (the server rounds percentages to two decimals). */
function close(actual: number | null | undefined, expected: number, what: string, tolerance = 1e-6): void {
  check(actual != null && Math.abs(actual - expected) <= tolerance, `${what}: ${actual} != ${expected}`);
}

/** The body of a successful call, or a readable failure with the problem details. */
function ok<T>(result: { data?: T; error?: unknown; response: Response }, what: string): T {
  if (result.data === undefined) {
    throw new Error(`${what}: HTTP ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

async function logIn(username: string, password: string): Promise<Client<paths>> {
  const anonymous = createClient<paths>({ baseUrl });
  const form: Schemas["TokenRequest"] = { grant_type: "password", username, password };
  const token = ok(
    await anonymous.POST("/v1/auth/token", {
      body: form,
      bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    }),
    `log in as ${username}`,
  );
  check(token.token_type?.toLowerCase() === "bearer", "bearer token");
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token.access_token}` } });
}

async function main(): Promise<void> {
  // 1. The programme administrator sets up a partner and a partner user.
  const admin = await logIn(required("ADMIN_EMAIL"), required("ADMIN_PASSWORD"));
  const partnerOrg = ok(
    await admin.POST("/v1/organisations", {
      body: { kind: "partner", name: `Ghana Productivity Centre ${run}`, country: "GH" },
    }),
    "create the partner organisation",
  );
  const partnerEmail = `kofi.${run}@gpc.example`;
  const partnerPassword = "correct horse battery staple";
  ok(
    await admin.POST("/v1/users", {
      body: {
        email: partnerEmail,
        password: partnerPassword,
        role: "partner",
        full_name: "Kofi Mensah",
        organisation_id: partnerOrg.id,
      },
    }),
    "create the partner user",
  );

  // 2. The partner logs in with the password grant.
  const partner = await logIn(partnerEmail, partnerPassword);
  const me = ok(await partner.GET("/v1/me"), "who am I");
  check(me.role === "partner", `role ${me.role}`);

  // 3. An enterprise and an idea from the workshop.
  const enterprise = ok(
    await partner.POST("/v1/enterprises", {
      body: { name: `Akuse Lime Works ${run}`, country: "GH", sector: "0899", employees_female: 12, employees_male: 30 },
      params: { header: { "Idempotency-Key": `enterprise-${run}` } },
    }),
    "create the enterprise",
  );
  check(enterprise.partner_id === partnerOrg.id, "enterprise belongs to the partner");
  let idea = ok(
    await partner.POST("/v1/ideas", {
      body: { enterprise_id: enterprise.id, title: "Turn waste lime into paint sold locally", category: "circularity" },
    }),
    "create the idea",
  );
  check(idea.status === "proposed", `new idea is ${idea.status}`);

  // 4. The idea moves through its life cycle.
  const steps: IdeaStatus[] = ["approved", "in_progress", "implemented"];
  for (const to of steps) {
    idea = ok(
      await partner.POST("/v1/ideas/{idea_id}/transitions", { params: { path: { idea_id: idea.id } }, body: { to } }),
      `move the idea to ${to}`,
    );
    check(idea.status === to, `idea is ${idea.status}, expected ${to}`);
  }
  const history = ok(
    await partner.GET("/v1/ideas/{idea_id}/transitions", { params: { path: { idea_id: idea.id } } }),
    "idea history",
  );
  check(JSON.stringify(history.items.map((t) => t.to)) === JSON.stringify(steps), "transition history");

  // 5. Results: a yearly baseline and a later month, for a level and a flow metric.
  const results: Schemas["ResultCreate"][] = [
    { enterprise_id: enterprise.id, metric: "yield_rate", period_start: "2024-01-01", period_end: "2024-12-31", value: 78, is_baseline: true },
    { enterprise_id: enterprise.id, metric: "yield_rate", period_start: "2025-06-01", period_end: "2025-06-30", value: 95, idea_id: idea.id },
    { enterprise_id: enterprise.id, metric: "water", period_start: "2024-01-01", period_end: "2024-12-31", value: 1464, is_baseline: true },
    { enterprise_id: enterprise.id, metric: "water", period_start: "2025-06-01", period_end: "2025-06-30", value: 30, idea_id: idea.id },
  ];
  for (const body of results) {
    ok(await partner.POST("/v1/results", { body }), `record ${body.metric} ${body.period_start}`);
  }

  // 6. The progress record, with numbers computed by the server.
  const record = ok(
    await partner.GET("/v1/enterprises/{enterprise_id}/progress", { params: { path: { enterprise_id: enterprise.id } } }),
    "read the progress record",
  );
  check(record.enterprise.id === enterprise.id, "record of the enterprise");
  const byMetric = new Map(record.metrics.map((m) => [m.metric, m]));
  const yieldRate = byMetric.get("yield_rate");
  const water = byMetric.get("water");
  check(yieldRate && water, "both metrics in the record");
  // Level metric: compared directly, 78 % -> 95 %.
  check(yieldRate.direction === "increase", "yield: higher is better");
  close(yieldRate.change_abs, 17, "yield change_abs");
  close(yieldRate.change_pct, (17 / 78) * 100, "yield change_pct", 0.005);
  check(yieldRate.improved === true, "yield improved");
  // Flow metric: annualised. 1,464 m3 over 2024 (366 days) = 1,460 m3/yr; 30 m3 in June = 365 m3/yr.
  close(water.baseline?.per_year, 1460, "water baseline per_year");
  close(water.latest?.per_year, 365, "water latest per_year");
  close(water.change_pct, -75, "water change_pct");
  check(water.improved === true, "water improved");
  check(record.ideas.by_status["implemented"] === 1, `ideas by status ${JSON.stringify(record.ideas.by_status)}`);

  // Errors are typed problem details.
  const missing = await partner.GET("/v1/enterprises/{enterprise_id}", {
    params: { path: { enterprise_id: "00000000-0000-7000-8000-000000000000" } },
  });
  check(missing.response.status === 404 && missing.error?.type.endsWith("/not-found"), "404 as problem details");

  const photoSha = await expertFlow(partner, partnerOrg.id, enterprise.id);
  console.log(
    `typescript SDK flow ok: enterprise ${enterprise.id}; yield +${yieldRate.change_abs} points, water ${water.change_pct} % per year; ` +
      `expert visit synced with photo ${photoSha.slice(0, 12)}`,
  );
}

/** A small PNG: the server recognises the type from these bytes, whatever the file is called. */
const PHOTO = Buffer.from(
  "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
    "1f15c4890000000d49444154789c6300010000050001" +
    "0d0a2db40000000049454e44ae426082",
  "hex",
);

/** The expert's app: offline capture under its own ids, sync, evidence. The photo's SHA-256. */
async function expertFlow(partner: Client<paths>, partnerOrg: string, enterprise: string): Promise<string> {
  // 7. The partner adds a certified expert and assigns them to the enterprise.
  const email = `ama.${run}@gpc.example`;
  const password = "expert horse battery staple";
  const nextYear = new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 10);
  const expertUser = ok(
    await partner.POST("/v1/users", {
      body: { email, password, role: "expert", full_name: "Ama Owusu", organisation_id: partnerOrg, certified_until: nextYear },
    }),
    "create the expert",
  );
  const assigned = await partner.PUT("/v1/enterprises/{enterprise_id}/experts/{user_id}", {
    params: { path: { enterprise_id: enterprise, user_id: expertUser.id } },
  });
  check(assigned.response.ok, `assign the expert: HTTP ${assigned.response.status}`);
  const expert = await logIn(email, password);

  // 8. Offline: the app names what it captures with ids of its own, so the visit can name the idea.
  const ideaId = randomUUID();
  const visitId = randomUUID();
  const ideaBody: Schemas["IdeaCreate"] = {
    id: ideaId,
    enterprise_id: enterprise,
    title: "Kiln heat recovery to dry the lime",
    category: "energy",
  };
  const visitBody: Schemas["VisitCreate"] = {
    id: visitId,
    enterprise_id: enterprise,
    kind: "consultation",
    scheduled_at: "2025-07-01T09:30:00Z",
    status: "completed",
    findings: "Heat exchanger fitted on kiln 2; drying time halved.",
    idea_ids: [ideaId],
  };

  // 9. Back online, the app syncs in order; the answer to the visit is lost and it sends it again.
  const idea = ok(await expert.POST("/v1/ideas", { body: ideaBody }), "sync the idea");
  check(idea.id === ideaId, "the idea keeps the app's id");
  const visit = ok(await expert.POST("/v1/visits", { body: visitBody }), "sync the visit");
  const again = ok(await expert.POST("/v1/visits", { body: visitBody }), "sync the visit again");
  check(visit.id === visitId && again.id === visitId && again.updated_at === visit.updated_at, "a retry changes nothing");
  check(JSON.stringify(visit.idea_ids) === JSON.stringify([ideaId]), "the visit names the idea captured offline");
  const clash = await expert.POST("/v1/visits", {
    body: { id: visitId, enterprise_id: enterprise, kind: "monitoring", scheduled_at: visitBody.scheduled_at },
  });
  check(clash.response.status === 409 && clash.error?.type.endsWith("/id-conflict"), "same id, other body: 409");

  // 10. Evidence: a photo of the heat exchanger, attached to the visit (multipart/form-data).
  const form = new FormData();
  form.append("file", new Blob([PHOTO], { type: "image/png" }), "heat-exchanger.png");
  form.append("description", "Heat exchanger, kiln 2");
  const attachment = ok(
    await expert.POST("/v1/visits/{parent_id}/attachments", {
      params: { path: { parent_id: visitId } },
      body: form as unknown as Schemas["AttachmentUpload"],
      bodySerializer: (body) => body as unknown as FormData,
    }),
    "attach the photo",
  );
  const sha = createHash("sha256").update(PHOTO).digest("hex");
  check(attachment.sha256 === sha && attachment.size === PHOTO.length, "the server's SHA-256 and size");
  check(attachment.content_type === "image/png" && attachment.filename === "heat-exchanger.png", "type from the bytes");
  const listed = ok(
    await expert.GET("/v1/visits/{parent_id}/attachments", { params: { path: { parent_id: visitId } } }),
    "list the visit's files",
  );
  check(listed.items.length === 1 && listed.items[0]?.id === attachment.id, "the visit lists its photo");
  const whole = await expert.GET("/v1/attachments/{attachment_id}/content", {
    params: { path: { attachment_id: attachment.id } },
    parseAs: "arrayBuffer",
  });
  check(whole.response.status === 200 && whole.data !== undefined, `download: HTTP ${whole.response.status}`);
  check(Buffer.from(whole.data as ArrayBuffer).equals(PHOTO), "the downloaded bytes are the photo");
  check(whole.response.headers.get("etag") === `"${sha}"`, "the ETag is the SHA-256");
  const part = await expert.GET("/v1/attachments/{attachment_id}/content", {
    params: { path: { attachment_id: attachment.id }, header: { Range: "bytes=0-7" } },
    parseAs: "arrayBuffer",
  });
  check(part.response.status === 206, `range: HTTP ${part.response.status}`);
  check(Buffer.from(part.data as ArrayBuffer).equals(PHOTO.subarray(0, 8)), "the first eight bytes");
  return sha;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
