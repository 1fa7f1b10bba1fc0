import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { agent, createAdmin, createTestApp, createUser, loggedIn, type Agent, type TestApp } from './helpers/app.ts';

/** Every `<img …>` tag of a page and the value of its `src` attribute. */
const imgSources = (html: string) => [...html.matchAll(/<img\b[^>]*>/gi)].map((m) => /\ssrc="([^"]*)"/i.exec(m[0])?.[1] ?? '(no src)');
/** Every href/src attribute value of a page. */
const urlAttributes = (html: string) => [...html.matchAll(/\s(?:href|src)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi)].map((m) => m[1].replace(/^["']|["']$/g, ''));
/** The HTML of one card of the task page, by its id. */
const section = (html: string, id: string) => {
  const start = html.indexOf(`id="${id}"`);
  if (start < 0) throw new Error(`no section ${id}`);
  const next = html.indexOf('<div class="card', start + 1);
  return html.slice(start, next < 0 ? undefined : next);
};

describe('task view (read-only)', () => {
  let t: TestApp;
  let admin: IUser;
  let member: IUser;
  let manager: IUser;
  let adminClient: Agent;
  let memberClient: Agent;
  let managerClient: Agent;
  let outsiderClient: Agent;
  let projectId: number;
  let otherProjectId: number;
  let stages: Record<string, number>;
  let otherLabel: number;

  const page = (taskId: number, project = projectId) => `/projects/${project}/tasks/${taskId}`;

  async function insertTask(fields: {
    name: string;
    data?: Record<string, unknown>;
    metadata?: Record<string, string>;
    project?: number;
    stage?: number;
    assignee?: number;
    extra?: Record<string, unknown>;
  }): Promise<number> {
    const extra = fields.extra ?? {};
    const columns = ['project_id', 'name', 'data', 'metadata', 'stage_id', 'assignee_id', ...Object.keys(extra)];
    const values = [
      fields.project ?? projectId,
      fields.name,
      JSON.stringify(fields.data ?? {}),
      JSON.stringify(fields.metadata ?? {}),
      fields.stage ?? stages.Label,
      fields.assignee ?? null,
      ...Object.values(extra),
    ];
    const [row] = await t.sql<{ id: string }>(
      `insert into tasks (${columns.join(', ')}) values (${values.map((_, i) => `$${i + 1}`).join(', ')}) returning id`,
      values,
    );
    return Number(row.id);
  }

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    member = await createUser(t, 'member@example.org');
    manager = await createUser(t, 'manager@example.org');
    await createUser(t, 'outsider@example.org');
    adminClient = await loggedIn(t, 'admin@example.org');
    memberClient = await loggedIn(t, 'member@example.org');
    managerClient = await loggedIn(t, 'manager@example.org');
    outsiderClient = await loggedIn(t, 'outsider@example.org');

    const services = t.services();
    const project = await services.projects.create(admin, { name: 'Street scenes', reviewStages: 1 });
    projectId = project.id;
    const access = await services.projects.access(admin, projectId, 'admin');
    await services.members.add(access, 'member@example.org', { role: 'member', stageIds: [] });
    await services.members.add(access, 'manager@example.org', { role: 'manager', stageIds: [] });
    await services.projects.updateSchemas(
      access,
      [
        { name: 'image', type: 'image_url', required: true },
        { name: 'caption', type: 'text', required: false },
        { name: 'source', type: 'url', required: false },
        { name: 'count', type: 'integer', required: false },
        { name: 'config', type: 'json', required: false },
      ],
      [
        { name: 'pedestrian', type: 'boolean' },
        { name: 'hazards', type: 'multi_choice', options: ['glare', 'debris', 'animal'] },
        { name: 'boxes', type: 'json' },
        { name: 'notes', type: 'text' },
      ],
    );
    const rows = await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId]);
    stages = Object.fromEntries(rows.map((r) => [r.name, Number(r.id)]));

    const other = await t.services().projects.create(admin, { name: 'Other project', reviewStages: 1 });
    otherProjectId = other.id;
    otherLabel = Number((await t.sql<{ id: string }>(`select id from stages where project_id = $1 and name = 'Label'`, [other.id]))[0].id);
    const otherAccess = await t.services().projects.access(admin, otherProjectId, 'admin');
    await t.services().members.add(otherAccess, 'member@example.org', { role: 'member', stageIds: [] });
  });
  afterAll(() => t.close());

  it('renders hostile task data inert: escaped text, no script, no javascript: URL, no injected image', async () => {
    const id = await insertTask({
      name: 'hostile <b>name</b>',
      data: {
        image: 'javascript:alert(1)',
        caption: '<script>alert(1)</script>',
        source: '"><img src=x onerror=alert(1)>',
        sneaky: ' javascript:alert(2)',
        'x"><svg onload=alert(3)>': 'key injection',
      },
      metadata: { '<i>k</i>': '<script>alert(4)</script>' },
    });
    await t.sql(`insert into task_events (task_id, project_id, kind, after, note) values ($1, $2, 'created', $3, $4)`, [
      id,
      projectId,
      JSON.stringify({ name: '<script>alert(5)</script>' }),
      '"><img src=x onerror=alert(6)>',
    ]);
    await t.sql(`insert into answer_sets (task_id, kind, answers) values ($1, 'default', $2)`, [
      id,
      JSON.stringify({ notes: '<script>alert(7)</script>', hazards: ['<img src=x>'] }),
    ]);

    const res = await adminClient.get(page(id));
    expect(res.status).toBe(200);
    const html = res.text;
    expect(html).not.toContain('<script>alert(');
    expect(html).not.toMatch(/<img src=x/i);
    expect(html).not.toContain('"><img');
    expect(html).not.toContain('<svg');
    expect(html).not.toContain('<b>name</b>');
    expect(html).not.toContain('<i>k</i>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
    expect(html).toContain('&lt;script&gt;alert(4)&lt;/script&gt;');
    expect(html).toContain('&lt;script&gt;alert(5)&lt;/script&gt;');
    expect(html).toContain('&lt;script&gt;alert(7)&lt;/script&gt;');
    // the javascript: values are shown as text, never as a URL
    expect(html).toContain('javascript:alert(1)');
    expect(html).not.toMatch(/<img[^>]+src="\s*javascript:/i);
    for (const url of urlAttributes(html)) expect(url.trim().toLowerCase()).not.toMatch(/^(javascript|data|vbscript):/);
    expect(imgSources(html)).toEqual([]);
  });

  it('shows an https image_url inline (lazy, no referrer, with alt text and a link) and never fetches it', async () => {
    const src = 'https://images.example.org/frames/cat%201.png?size=640';
    const id = await insertTask({ name: 'with image', data: { image: src, source: 'http://example.org/source', caption: 'see https://example.org' } });
    const res = await adminClient.get(page(id));
    expect(res.status).toBe(200);
    const inputs = section(res.text, 'inputs');
    const img = /<img\b[^>]*>/.exec(inputs)?.[0] ?? '';
    expect(img).toContain(`src="${src}"`);
    expect(img).toContain('loading="lazy"');
    expect(img).toContain('referrerpolicy="no-referrer"');
    expect(img).toMatch(/alt="[^"]+"/);
    expect(inputs).toContain(`<a href="${src}" rel="noopener noreferrer nofollow" target="_blank"`);
    // a url field becomes a link; text that merely contains a URL stays text
    expect(inputs).toContain('<a href="http://example.org/source" rel="noopener noreferrer nofollow" target="_blank"');
    expect(inputs).toContain('see https://example.org');
    expect(urlAttributes(inputs)).not.toContain('https://example.org');
  });

  it('shows data:, relative and non-http image or link values as plain text', async () => {
    const id = await insertTask({
      name: 'not web urls',
      data: {
        image: 'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=',
        source: 'ftp://files.example.org/a.png',
        caption: 'mailto:someone@example.org',
        relative: '/uploads/cat.png',
      },
    });
    const res = await adminClient.get(page(id));
    expect(res.status).toBe(200);
    const inputs = section(res.text, 'inputs');
    expect(imgSources(inputs)).toEqual([]);
    expect(inputs).toContain('data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=');
    expect(inputs).toContain('ftp://files.example.org/a.png');
    expect(inputs).toContain('/uploads/cat.png');
    const urls = urlAttributes(inputs);
    expect(urls.some((u) => u.startsWith('data:') || u.startsWith('ftp:') || u.startsWith('mailto:') || u === '/uploads/cat.png')).toBe(false);

    const relative = await insertTask({ name: 'relative image', data: { image: '/uploads/cat.png' } });
    const rel = await adminClient.get(page(relative));
    expect(imgSources(rel.text)).toEqual([]);
    expect(section(rel.text, 'inputs')).toContain('/uploads/cat.png');
  });

  it('pretty-prints JSON inputs (objects, arrays and JSON text) and lists extra keys after the schema', async () => {
    const id = await insertTask({
      name: 'json inputs',
      data: { extra_key: 'shown last', config: { threshold: 0.5, labels: ['car', 'bus'] }, count: 42, series: [{ items: 'a.dcm' }] },
    });
    const res = await adminClient.get(page(id));
    expect(res.status).toBe(200);
    const inputs = section(res.text, 'inputs');
    expect(inputs).toContain('<pre class="task-json">{\n  &quot;labels&quot;: [\n    &quot;car&quot;,\n    &quot;bus&quot;\n  ],\n  &quot;threshold&quot;: 0.5\n}</pre>');
    expect(inputs).toContain('&quot;items&quot;: &quot;a.dcm&quot;');
    expect(inputs).toContain('42');
    // schema fields first (image, caption, source, count, config), then the extra keys alphabetically
    const order = ['image', 'caption', 'source', 'count', 'config', 'extra_key', 'series'].map((name) => inputs.indexOf(`<span class="strong">${name}</span>`));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);

    const text = await insertTask({ name: 'json text', data: { config: '{"a":1}' } });
    expect(section((await adminClient.get(page(text))).text, 'inputs')).toContain('<pre class="task-json">{\n  &quot;a&quot;: 1\n}</pre>');
  });

  it('lets a member see only tasks assigned or reserved to them now, not tasks they worked on earlier', async () => {
    const mine = await insertTask({ name: 'assigned to member', assignee: member.id, extra: { assignment_status: 'assigned', assignment_kind: 'manual' } });
    const reserved = await insertTask({ name: 'reserved for member', assignee: member.id, extra: { assignment_status: 'assigned', assignment_kind: 'reserved' } });
    const notMine = await insertTask({ name: 'assigned to manager', assignee: manager.id, extra: { assignment_status: 'assigned', assignment_kind: 'manual' } });
    const pool = await insertTask({ name: 'in the pool' });
    const workedOn = await insertTask({ name: 'member labelled it', stage: stages.Review_1 });
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind, finalized_at) values ($1, $2, $3, 'finalized', 'auto', now())`, [
      workedOn,
      stages.Label,
      member.id,
    ]);
    const otherTask = await insertTask({ name: 'other project task', project: otherProjectId, stage: otherLabel, assignee: member.id, extra: { assignment_status: 'assigned', assignment_kind: 'manual' } });

    expect((await memberClient.get(page(mine))).status).toBe(200);
    expect((await memberClient.get(page(reserved))).status).toBe(200);
    for (const id of [notMine, pool, workedOn]) {
      const res = await memberClient.get(page(id));
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('assigned to manager');
    }
    // another project's task through this project's URL is 404 for everyone, even when it is the member's
    expect((await memberClient.get(page(otherTask))).status).toBe(404);
    expect((await adminClient.get(page(otherTask))).status).toBe(404);
    expect((await adminClient.get(page(mine, otherProjectId))).status).toBe(404);
    // through its own project it is theirs
    expect((await memberClient.get(page(otherTask, otherProjectId))).status).toBe(200);
    // managers and admins see every task of the project
    for (const id of [mine, notMine, pool, workedOn]) {
      expect((await managerClient.get(page(id))).status).toBe(200);
      expect((await adminClient.get(page(id))).status).toBe(200);
    }
  });

  it('answers 404 to a user outside the project, and for unknown or archived tasks', async () => {
    const id = await insertTask({ name: 'outsider target' });
    const out = await outsiderClient.get(page(id));
    expect(out.status).toBe(404);
    expect(out.text).not.toContain('outsider target');
    expect((await adminClient.get(page(999999999))).status).toBe(404);

    const archived = await insertTask({ name: 'archived task', assignee: member.id, extra: { assignment_status: 'assigned', assignment_kind: 'manual' } });
    const [archive] = await t.sql<{ id: string }>(`insert into archives (project_id, created_by_id, task_count) values ($1, $2, 1) returning id`, [projectId, admin.id]);
    await t.sql('update tasks set archive_id = $1 where id = $2', [archive.id, archived]);
    for (const client of [adminClient, managerClient, memberClient]) {
      const res = await client.get(page(archived));
      expect(res.status).toBe(404);
      expect(res.text).not.toContain('archived task');
    }
  });

  it('sends signed-out visitors to the login page', async () => {
    const id = await insertTask({ name: 'signed out' });
    const res = await agent(t.app).get(page(id));
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`/login?next=${encodeURIComponent(page(id))}`);
  });

  it('shows facts, assignments per stage, answer sets and the history with N/A for system events', async () => {
    const id = await insertTask({
      name: 'full history',
      stage: stages.Review_1,
      assignee: manager.id,
      metadata: { city: 'Lyon', route: 'R-7' },
      data: { image: 'https://images.example.org/full.png' },
      extra: {
        state: 'in_progress',
        priority: -3,
        priority_score: '0.123456789',
        client_batch_id: 'batch-2026-07',
        held: true,
        has_open_issue: true,
        assignment_status: 'saved',
        assignment_kind: 'manual',
        created_at: '2026-09-01T08:00:00Z',
        last_submitted_at: '2026-09-02T10:30:00Z',
        last_submitted_by_id: member.id,
      },
    });
    const [label] = await t.sql<{ id: string }>(
      `insert into assignments (task_id, stage_id, user_id, status, kind, outcome, issue_comment, created_at, updated_at, finalized_at)
       values ($1, $2, $3, 'finalized', 'auto', null, 'Image is <blurry>', '2026-09-02T09:00:00Z', '2026-09-02T10:30:00Z', '2026-09-02T10:30:00Z') returning id`,
      [id, stages.Label, member.id],
    );
    // the released Review_1 assignment is older than the Label one, yet lists after it: workflow order first
    await t.sql(
      `insert into assignments (task_id, stage_id, user_id, status, kind, created_at, updated_at)
       values ($1, $2, $3, 'released', 'reserved', '2026-09-01T07:00:00Z', '2026-09-01T07:30:00Z'),
              ($1, $2, $4, 'saved', 'manual', '2026-09-03T09:00:00Z', '2026-09-03T09:05:00Z')`,
      [id, stages.Review_1, member.id, manager.id],
    );
    await t.sql(
      `insert into answer_sets (task_id, stage_id, assignment_id, user_id, kind, answers, version, submitted, created_at, updated_at) values
         ($1, null, null, null, 'default', $2, 1, true, '2026-09-01T08:00:00Z', '2026-09-01T08:00:00Z'),
         ($1, $3, $4, $5, 'submission', $6, 3, true, '2026-09-02T09:10:00Z', '2026-09-02T10:30:00Z'),
         ($1, $7, null, $8, 'correction', $9, 1, false, '2026-09-03T09:05:00Z', '2026-09-03T09:05:00Z')`,
      [
        id,
        JSON.stringify({ pedestrian: false, hazards: ['glare'] }),
        stages.Label,
        label.id,
        member.id,
        JSON.stringify({ pedestrian: true, hazards: ['glare', 'debris'], boxes: [{ x: 1, y: 2 }], notes: 'two people' }),
        stages.Review_1,
        manager.id,
        JSON.stringify({ pedestrian: true, hazards: [] }),
      ],
    );
    // no stored `created` event: the history derives the task's creation from its row
    await t.sql(
      `insert into task_events (task_id, project_id, actor_id, kind, before, after, note, created_at) values
         ($1, $2, $3, 'finalized', $4, $5, null, '2026-09-02T10:30:00Z'),
         ($1, $2, $6, 'priority_changed', $7, $8, 'urgent client request', '2026-09-03T11:00:00Z')`,
      [
        id,
        projectId,
        member.id,
        JSON.stringify({ stage: 'Label', priority: 0 }),
        JSON.stringify({ stage: 'Review_1' }),
        manager.id,
        JSON.stringify({ priority: 0 }),
        JSON.stringify({ priority: -3 }),
      ],
    );

    const res = await adminClient.get(page(id));
    expect(res.status).toBe(200);
    const html = res.text;

    // header: crumbs, id, name, badges
    expect(html).toContain(`<a href="/projects/${projectId}/tasks">Tasks</a>`);
    expect(html).toContain(`#${id}`);
    expect(html).toContain('full history');
    expect(html).toContain('>In progress</span>');
    expect(html).toContain('>Held</span>');
    expect(html).toContain('>Open issue</span>');

    const facts = section(html, 'details');
    expect(facts).toContain('0.123456789');
    expect(facts).toContain('-3');
    expect(facts).toContain('batch-2026-07');
    expect(facts).toContain('manager');
    expect(facts).toContain('Saved');
    expect(facts).toMatch(/Created<\/dt><dd>.*by N\/A/s);
    expect(facts).toMatch(/Last submitted<\/dt>\s*<dd>.*by member/s);

    const metadata = section(html, 'metadata');
    expect(metadata).toContain('Lyon');
    expect(metadata).toContain('R-7');

    // assignments: workflow order (Label before Review_1) then time, with the issue comment escaped
    const assignments = section(html, 'assignments');
    const labelAt = assignments.indexOf('>Finalized<');
    const releasedAt = assignments.indexOf('>Released<');
    const savedAt = assignments.indexOf('>Saved<');
    expect(labelAt).toBeGreaterThan(0);
    expect(labelAt).toBeLessThan(releasedAt);
    expect(releasedAt).toBeLessThan(savedAt);
    expect(assignments).toContain('Image is &lt;blurry&gt;');
    expect(assignments).toContain('Reserved');
    expect((assignments.match(/<tbody/g) ?? []).length).toBe(2);

    // answer sets: default first, then by stage; answers follow the output schema
    const sets = section(html, 'answer-sets');
    const order = ['Default / model', 'Submission', 'Correction'].map((label) => sets.indexOf(`<span class="strong">${label}</span>`));
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect((sets.match(/<details/g) ?? []).length).toBe(3);
    expect(sets).toContain('v3');
    expect(sets).toContain('Not submitted');
    expect(sets).toContain('glare, debris');
    expect(sets).toContain('>Yes<');
    expect(sets).toContain('>No<');
    expect(sets).toContain('&quot;x&quot;: 1');
    expect(sets).toContain('two people');

    // history: newest first, humanized kinds, N/A for the system event, before → after pairs
    const history = section(html, 'history');
    const kinds = ['Priority changed', 'Finalized', 'Created'].map((k) => history.indexOf(`>${k}<`));
    expect(kinds.every((i) => i >= 0)).toBe(true);
    expect([...kinds].sort((a, b) => a - b)).toEqual(kinds);
    expect(history).toMatch(/>N\/A<\/td>\s*<td class="nowrap">Created</);
    expect(history).toContain('priority: 0</span> → priority: -3');
    expect(history).toContain('stage: Label, priority: 0</span> → stage: Review_1');
    expect(history).toContain('urgent client request');
    expect(history).toContain('3 events');
  });

  it('shows the newest 200 events and says how many more exist', async () => {
    const id = await insertTask({ name: 'busy task' });
    await t.sql(
      `insert into task_events (task_id, project_id, actor_id, kind, after, created_at)
       select $1, $2, null, 'touched', jsonb_build_object('n', n), timestamptz '2026-01-01' + n * interval '1 minute'
       from generate_series(1, 205) as n`,
      [id, projectId],
    );
    const history = section((await adminClient.get(page(id))).text, 'history');
    expect((history.match(/>Touched</g) ?? []).length).toBe(200);
    expect(history).toContain('n: 205');
    expect(history).not.toMatch(/n: 5(?!\d)/);
    // 205 stored events and the task's creation
    expect(history).toContain('206 events');
    expect(history).toContain('6 older events are not shown');
    expect(history).not.toContain('>Created<');
  });

  it("starts an uploaded task's history with its creation: creator, upload file and time, without a stored event", async () => {
    const [upload] = await t.sql<{ id: string }>(
      `insert into uploads (project_id, file_name, status, created_by_id) values ($1, 'scenes <week 47>.csv', 'completed', $2) returning id`,
      [projectId, admin.id],
    );
    const id = await insertTask({ name: 'uploaded task', extra: { upload_id: upload.id, created_by_id: admin.id, created_at: '2026-08-30T07:15:00Z' } });
    await t.sql(
      `insert into task_events (task_id, project_id, actor_id, kind, before, after, created_at) values ($1, $2, $3, 'priority_changed', $4, $5, '2026-08-31T09:00:00Z')`,
      [id, projectId, manager.id, JSON.stringify({ priority: 0 }), JSON.stringify({ priority: 4 })],
    );
    const history = section((await adminClient.get(page(id))).text, 'history');
    // oldest last: the priority change, then the creation (escaped file name)
    expect(history.indexOf('>Priority changed<')).toBeGreaterThan(0);
    expect(history.indexOf('>Priority changed<')).toBeLessThan(history.indexOf('>Created<'));
    expect(history).toMatch(/>Ada Admin<\/td>\s*<td class="nowrap">Created</);
    expect(history).toContain('Created by Ada Admin from upload scenes &lt;week 47&gt;.csv');
    expect(history).toContain('datetime="2026-08-30T07:15:00.000Z"');
    expect(history).toContain('2 events');
    expect(await t.sql(`select count(*)::int as n from task_events where task_id = $1 and kind = 'created'`, [id])).toEqual([{ n: 0 }]);
  });

  it('shows a stored created event of older data once, without a second, derived one', async () => {
    const id = await insertTask({ name: 'legacy task', extra: { created_by_id: admin.id } });
    await t.sql(`insert into task_events (task_id, project_id, actor_id, kind, after) values ($1, $2, $3, 'created', $4)`, [
      id, projectId, admin.id, JSON.stringify({ uploadId: 1 }),
    ]);
    const history = section((await adminClient.get(page(id))).text, 'history');
    expect((history.match(/>Created</g) ?? []).length).toBe(1);
    expect(history).toContain('uploadId: 1');
    expect(history).toContain('1 event');
  });
});
