import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, createUser, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/** The text of every element with `class="…name…"`, tags stripped. */
const texts = (html: string, className: string) =>
  [...html.matchAll(new RegExp(`<(\\w+)[^>]*class="[^"]*\\b${className}\\b[^"]*"[^>]*>([\\s\\S]*?)</\\1>`, 'g'))].map((m) =>
    m[2].replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim(),
  );
/** The table row of one field on the compare page. */
const fieldRow = (html: string, name: string) => {
  const start = html.indexOf(`<tr data-field="${name}">`);
  if (start < 0) throw new Error(`no row for ${name}`);
  return html.slice(start, html.indexOf('</tr>', start));
};
const agreementOf = (html: string, name: string) => texts(fieldRow(html, name), 'compare-agreement')[0];
const differingCells = (row: string) => (row.match(/class="compare-cell cell-differs"/g) ?? []).length;

describe('compare answers: page and API', () => {
  let t: TestApp;
  let admin: IUser;
  let member: IUser;
  let manager: IUser;
  let adminClient: Agent;
  let memberClient: Agent;
  let bystanderClient: Agent;
  let outsiderClient: Agent;
  let adminToken: string;
  let memberToken: string;
  let bystanderToken: string;
  let projectId: number;
  let stages: Record<string, number>;
  let taskId: number;
  let otherTaskId: number;
  let foreignSetId: number;
  let otherTaskSetId: number;
  /** default, submission (member, Label), correction (manager, Review_1) */
  let sets: { model: number; member: number; manager: number };

  const comparePath = (ids: string, task = taskId) => `/projects/${projectId}/tasks/${task}/compare${ids === '' ? '' : `?${ids}`}`;
  const api = (path: string, token = adminToken) => request(t.app.server).get(`/api/v1${path}`).set('Authorization', `Bearer ${token}`);

  async function insertTask(project: number, stage: number, name: string): Promise<number> {
    const [row] = await t.sql<{ id: string }>(`insert into tasks (project_id, name, stage_id) values ($1, $2, $3) returning id`, [project, name, stage]);
    return Number(row.id);
  }
  async function insertSet(fields: { task: number; kind: string; answers: Record<string, unknown>; stage?: number; user?: number; version?: number; createdAt?: string }): Promise<number> {
    const [row] = await t.sql<{ id: string }>(
      `insert into answer_sets (task_id, stage_id, user_id, kind, answers, version, submitted, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $8) returning id`,
      [fields.task, fields.stage ?? null, fields.user ?? null, fields.kind, JSON.stringify(fields.answers), fields.version ?? 1, fields.kind !== 'default', fields.createdAt ?? '2026-09-01T10:00:00Z'],
    );
    return Number(row.id);
  }

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    member = await createUser(t, 'member@example.org');
    manager = await createUser(t, 'manager@example.org');
    const bystander = await createUser(t, 'bystander@example.org');
    await createUser(t, 'outsider@example.org');
    adminClient = await loggedIn(t, 'admin@example.org');
    memberClient = await loggedIn(t, 'member@example.org');
    bystanderClient = await loggedIn(t, 'bystander@example.org');
    outsiderClient = await loggedIn(t, 'outsider@example.org');

    const s = t.services();
    projectId = (await s.projects.create(admin, { name: 'Street scenes', reviewStages: 1 })).id;
    const access = await s.projects.access(admin, projectId, 'admin');
    await s.members.add(access, 'member@example.org', { role: 'member', stageIds: [] });
    await s.members.add(access, 'manager@example.org', { role: 'manager', stageIds: [] });
    await s.members.add(access, 'bystander@example.org', { role: 'member', stageIds: [] });
    await s.projects.updateSchemas(access, [{ name: 'image', type: 'image_url', required: false }], [
      { name: 'pedestrian', type: 'boolean' },
      { name: 'vehicle', type: 'choice', options: ['car', 'bus', 'bike'] },
      { name: 'speed', type: 'number' },
      { name: 'hazards', type: 'multi_choice', options: ['glare', 'debris', 'animal'] },
      { name: 'notes', type: 'text' },
      { name: 'boxes', type: 'json' },
      { name: 'unused', type: 'text' },
    ]);
    stages = Object.fromEntries(
      (await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId])).map((r) => [r.name, Number(r.id)]),
    );

    taskId = await insertTask(projectId, stages.Review_1, 'frame-001');
    otherTaskId = await insertTask(projectId, stages.Label, 'frame-002');
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind, finalized_at) values ($1, $2, $3, 'finalized', 'auto', now())`, [
      taskId,
      stages.Label,
      member.id,
    ]);
    // the member now holds the task in review too: a member reads a task only while holding it
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind) values ($1, $2, $3, 'assigned', 'manual')`, [taskId, stages.Review_1, member.id]);
    // inserted newest first: the page orders by kind and workflow, not by id
    const managerSet = await insertSet({
      task: taskId, kind: 'correction', stage: stages.Review_1, user: manager.id, version: 2, createdAt: '2026-09-03T10:00:00Z',
      answers: { pedestrian: true, vehicle: 'bus', speed: 30, hazards: ['glare', 'debris'], notes: 'Wet road, low sun', boxes: { x: 10, y: 20, w: 5, h: 5 }, extra_key: 'kept' },
    });
    const memberSet = await insertSet({
      task: taskId, kind: 'submission', stage: stages.Label, user: member.id, createdAt: '2026-09-02T10:00:00Z',
      answers: { pedestrian: true, vehicle: 'car', speed: 30.0000001, hazards: ['glare'], notes: 'wet road', boxes: { x: 10, y: 20, w: 6, h: 5 } },
    });
    const modelSet = await insertSet({
      task: taskId, kind: 'default',
      answers: { pedestrian: 'true', vehicle: 'car', speed: '31', hazards: ['glare', 'debris'], notes: 'Wet road!', boxes: '{"x": 10, "y": 20, "w": 5, "h": 5}' },
    });
    sets = { model: modelSet, member: memberSet, manager: managerSet };
    otherTaskSetId = await insertSet({ task: otherTaskId, kind: 'default', answers: { notes: 'other task' } });

    const otherProject = await s.projects.create(admin, { name: 'Other project', reviewStages: 0 });
    const [otherLabel] = await t.sql<{ id: string }>(`select id from stages where project_id = $1 and name = 'Label'`, [otherProject.id]);
    const foreignTask = await insertTask(otherProject.id, Number(otherLabel.id), 'foreign');
    foreignSetId = await insertSet({ task: foreignTask, kind: 'default', answers: { notes: 'foreign' } });

    adminToken = (await s.apiTokens.create(admin, 'script')).token;
    memberToken = (await s.apiTokens.create(member, 'member script')).token;
    bystanderToken = (await s.apiTokens.create(bystander, 'bystander script')).token;
  });
  afterAll(() => t.close());

  it('offers the comparison from the task view: a GET form with one checkbox per answer set', async () => {
    const res = await adminClient.get(`/projects/${projectId}/tasks/${taskId}`);
    expect(res.status).toBe(200);
    expect(res.text).toContain(`<form method="get" action="/projects/${projectId}/tasks/${taskId}/compare" id="compare-form">`);
    const boxes = [...res.text.matchAll(/<input type="checkbox" name="sets" value="(\d+)"/g)].map((m) => Number(m[1]));
    expect(boxes).toEqual([sets.model, sets.member, sets.manager]);
    // a task with a single answer set has nothing to compare
    const single = await adminClient.get(`/projects/${projectId}/tasks/${otherTaskId}`);
    expect(single.text).not.toContain('name="sets"');
  });

  it('redirects to one canonical URL: ids sorted, distinct, comma-separated, nothing else', async () => {
    const sorted = [sets.model, sets.member, sets.manager].sort((a, b) => a - b).join(',');
    for (const query of [
      `sets=${sets.manager}&sets=${sets.model}&sets=${sets.member}`,
      `sets=${sets.manager},${sets.model},${sets.member},${sets.model}`,
      `sets=${sets.manager}%2C${sets.model}%2C${sets.member}`,
      `sets=${sorted}&utm=x`,
      `sets=,${sorted},`,
    ]) {
      const res = await adminClient.get(comparePath(query));
      expect(res.status, query).toBe(302);
      expect(res.headers.location, query).toBe(comparePath(`sets=${sorted}`));
    }
    const res = await adminClient.get(comparePath(`sets=${sorted}`));
    expect(res.status).toBe(200);
  });

  it('shows the sets side by side in reading order, fields in schema order, and the agreement per field and overall', async () => {
    const ids = [sets.model, sets.member].sort((a, b) => a - b).join(',');
    const res = await adminClient.get(comparePath(`sets=${ids}`));
    expect(res.status).toBe(200);
    const html = res.text;
    // columns: default answers first, then the submission; with label, stage, user, version
    const heads = texts(html, 'compare-set');
    expect(heads).toEqual([`Default / model #${sets.model} v1`, `Submission #${sets.member} Label · member · v1`]);
    // rows: the output schema in order (extra keys would follow)
    const rows = [...html.matchAll(/<tr data-field="([^"]+)">/g)].map((m) => m[1]);
    expect(rows).toEqual(['pedestrian', 'vehicle', 'speed', 'hazards', 'notes', 'boxes', 'unused']);
    expect(agreementOf(html, 'pedestrian')).toBe('100 %'); // "true" and true
    expect(agreementOf(html, 'vehicle')).toBe('100 %');
    expect(agreementOf(html, 'speed')).toBe('0 %'); // 31 vs 30.0000001
    expect(agreementOf(html, 'hazards')).toBe('50 %'); // Jaccard {glare, debris} vs {glare}
    expect(agreementOf(html, 'notes')).toBe('100 %'); // same word tokens
    expect(agreementOf(html, 'boxes')).toBe('75 %'); // 3 of 4 leaves equal
    expect(agreementOf(html, 'unused')).toBe('—'); // nobody answered: left out
    // (1 + 1 + 0 + .5 + 1 + .75) / 6
    expect(texts(html, 'compare-figure')).toEqual(['70.8 %']);
    // the first set is the reference of a tie: the second column is highlighted where they differ
    expect(differingCells(fieldRow(html, 'speed'))).toBe(1);
    expect(differingCells(fieldRow(html, 'vehicle'))).toBe(0);
    expect(fieldRow(html, 'hazards')).toMatch(/class="compare-cell cell-differs"[^>]*>[\s\S]*glare[\s\S]*50 %/);
    expect(html).toContain('× max(1, |a|, |b|)'); // the tolerance is stated
  });

  it('with three sets: agreement is the mean over the pairs, the majority value is the reference, extra keys are listed', async () => {
    const ids = Object.values(sets).sort((a, b) => a - b).join(',');
    const html = (await adminClient.get(comparePath(`sets=${ids}`))).text;
    expect(texts(html, 'compare-set')).toHaveLength(3);
    // vehicle: car, car, bus → pairs 1, 0, 0
    expect(agreementOf(html, 'vehicle')).toBe('33.3 %');
    const vehicle = fieldRow(html, 'vehicle');
    expect(differingCells(vehicle)).toBe(1);
    expect(vehicle).toMatch(/class="compare-cell cell-differs"[^>]*>\s*<span class="break preserve">bus</);
    // extra_key is only in the correction: missing vs present twice, both-missing pair left out
    expect(agreementOf(html, 'extra_key')).toBe('0 %');
    expect(fieldRow(html, 'extra_key')).toContain('Not in schema');
  });

  it('asks for a second set when only one is chosen, and shows the picker when none is', async () => {
    const one = await adminClient.get(comparePath(`sets=${sets.member}`));
    expect(one.status).toBe(422);
    expect(one.text).toContain('Choose at least two answer sets to compare');
    expect(one.text).toMatch(new RegExp(`value="${sets.member}" checked`));
    const none = await adminClient.get(comparePath(''));
    expect(none.status).toBe(200);
    expect(none.text).toContain('Choose two or more answer sets');
    expect([...none.text.matchAll(/name="sets" value="(\d+)"/g)]).toHaveLength(3);
  });

  it('answers 422 to ids that are not ids, and 404 to sets of another task or project', async () => {
    for (const query of ['sets=abc', 'sets=1,x', 'sets=0,1', 'sets=-1,2', 'sets=1.5,2', 'sets=99999999999999999999,1', `sets=${Array.from({ length: 13 }, (_, i) => i + 1).join(',')}`]) {
      const res = await adminClient.get(comparePath(query));
      expect(res.status, query).toBe(422);
    }
    for (const other of [otherTaskSetId, foreignSetId, 987654]) {
      const res = await adminClient.get(comparePath(`sets=${[sets.model, other].sort((a, b) => a - b).join(',')}`));
      expect(res.status, String(other)).toBe(404);
      expect(res.text).not.toContain('foreign');
    }
    expect((await adminClient.get(`/projects/${projectId}/tasks/abc/compare?sets=1,2`)).status).toBe(422);
  });

  it('follows the task view access rule: members only for tasks they hold, 404 otherwise', async () => {
    const query = `sets=${[sets.model, sets.member].sort((a, b) => a - b).join(',')}`;
    expect((await memberClient.get(comparePath(query))).status).toBe(200);
    const manager = await loggedIn(t, 'manager@example.org');
    expect((await manager.get(comparePath(query))).status).toBe(200);
    for (const client of [bystanderClient, outsiderClient]) {
      const res = await client.get(comparePath(query));
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('frame-001');
      // no redirect either: the canonical URL is not revealed for a task they may not see
      expect((await client.get(comparePath(`sets=${sets.member}&sets=${sets.model}`))).status).toBe(404);
    }
    const anonymous = await request(t.app.server).get(comparePath(query));
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.location).toMatch(/^\/login/);
  });

  it('renders hostile answers and keys inert', async () => {
    const task = await insertTask(projectId, stages.Label, '<b>hostile</b>');
    const a = await insertSet({ task, kind: 'default', answers: { notes: '<script>alert(1)</script>', vehicle: '"><img src=x onerror=alert(2)>', '<svg onload=alert(3)>': 'k' } });
    const b = await insertSet({ task, kind: 'default', answers: { notes: '<script>alert(1)</script> more', boxes: { '</pre><script>alert(4)</script>': 1 }, hazards: ['<img src=y>'] } });
    const res = await adminClient.get(comparePath(`sets=${Math.min(a, b)},${Math.max(a, b)}`, task));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<script>alert(');
    expect(res.text).not.toMatch(/<img src=[xy]/);
    expect(res.text).not.toContain('<svg');
    expect(res.text).not.toContain('<b>hostile</b>');
    expect(res.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(res.text).toContain('data-field="&lt;svg onload=alert(3)&gt;"');
    expect(res.text).toContain('&lt;/pre&gt;&lt;script&gt;alert(4)&lt;/script&gt;');
  });

  it('API: lists the answer sets of a task with their answers', async () => {
    const res = await api(`/projects/${projectId}/tasks/${taskId}/answers`);
    expect(res.status).toBe(200);
    expect(res.body.items.map((s: { id: number }) => s.id)).toEqual([sets.model, sets.member, sets.manager]);
    expect(res.body.items[1]).toMatchObject({
      kind: 'submission', stage: { id: expect.any(Number), name: 'Label' }, user: { id: member.id, name: 'member' }, version: 1, submitted: true,
      answers: { vehicle: 'car', hazards: ['glare'] },
    });
    expect(res.body.items[0]).toMatchObject({ kind: 'default', stage: null, user: null });
    expect((await api(`/projects/${projectId}/tasks/${taskId}/answers`, memberToken)).status).toBe(200);
    expect((await api(`/projects/${projectId}/tasks/${taskId}/answers`, bystanderToken)).status).toBe(404);
  });

  it('API: compares sets with values, agreement per field, reference and overall', async () => {
    const res = await api(`/projects/${projectId}/tasks/${taskId}/answers/compare?sets=${sets.manager},${sets.member}`);
    expect(res.status).toBe(200);
    expect(res.body.sets.map((s: { id: number }) => s.id)).toEqual([sets.member, sets.manager]);
    const field = (name: string) => res.body.fields.find((f: { name: string }) => f.name === name);
    expect(res.body.fields.map((f: { name: string }) => f.name)).toEqual(['pedestrian', 'vehicle', 'speed', 'hazards', 'notes', 'boxes', 'unused', 'extra_key']);
    expect(field('speed')).toMatchObject({ type: 'number', method: 'tolerance', agreement: 1, pairs: 1 });
    expect(field('vehicle')).toMatchObject({
      type: 'choice', method: 'exact', agreement: 0, referenceSetId: sets.member,
      values: [
        { setId: sets.member, value: 'car', missing: false, similarity: 1, differs: false },
        { setId: sets.manager, value: 'bus', missing: false, similarity: 0, differs: true },
      ],
    });
    expect(field('notes').agreement).toBeCloseTo(2 / 3, 12); // {wet, road} vs {wet, road, low, sun}
    expect(field('unused')).toMatchObject({ agreement: null, pairs: 0, values: [{ value: null, missing: true }, { value: null, missing: true }] });
    expect(field('extra_key')).toMatchObject({ type: null, method: 'json_paths', agreement: 0 });
    expect(res.body.overall).toBeCloseTo((1 + 0 + 1 + 0.5 + 2 / 3 + 0.75 + 0) / 7, 12);
    expect(res.body.numberTolerance).toBe(1e-6);
  });

  it('API: 422 for fewer than two or malformed ids, 404 for foreign sets and hidden tasks', async () => {
    const base = `/projects/${projectId}/tasks/${taskId}/answers/compare`;
    for (const query of ['', `?sets=${sets.member}`, `?sets=${sets.member},${sets.member}`, '?sets=x,1']) {
      const res = await api(`${base}${query}`);
      expect(res.status, query).toBe(422);
      expect(res.body.error).toBe('validation_failed');
    }
    expect((await api(`${base}?sets=${sets.member},${foreignSetId}`)).status).toBe(404);
    expect((await api(`${base}?sets=${sets.member}&sets=${sets.model}`)).status).toBe(200);
    expect((await api(`${base}?sets=${sets.member},${sets.model}`, memberToken)).status).toBe(200);
    const hidden = await api(`${base}?sets=${sets.member},${sets.model}`, bystanderToken);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error).toBe('not_found');
  });

  it('documents both endpoints in the OpenAPI document', async () => {
    const doc = (await request(t.app.server).get('/api/docs/json')).body;
    const compare = doc.paths['/api/v1/projects/{projectId}/tasks/{taskId}/answers/compare']?.get;
    expect(compare?.summary).toMatch(/Compare answer sets/);
    expect(compare?.parameters.map((p: { name: string }) => p.name)).toContain('sets');
    expect(doc.paths['/api/v1/projects/{projectId}/tasks/{taskId}/answers']?.get).toBeDefined();
  });
});
