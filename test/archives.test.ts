import { parse } from 'csv-parse/sync';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, createUser, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';
import { uploadAndWait } from './helpers/uploads.ts';

describe('Archives', () => {
  let t: TestApp;
  let admin: Agent;
  let member: Agent;
  let projectId: number;
  let labelId: number;
  let leeId: number;
  let token: string;

  const idOf = async (...names: string[]) =>
    (await t.sql<{ id: string }>('select id from tasks where project_id = $1 and name = any($2) order by id', [projectId, names])).map((r) => Number(r.id));
  const live = async () => (await t.sql<{ name: string }>('select name from tasks where project_id = $1 and archive_id is null order by name', [projectId])).map((r) => r.name);
  const listNames = async () => [...(await admin.get(`/projects/${projectId}/tasks?size=200`)).text.matchAll(/tasks\/\d+">([^<]+)<\/a>/g)].map((m) => m[1]);

  async function bulk(fields: Record<string, string | number | (string | number)[]>) {
    const page = await admin.get(`/projects/${projectId}/tasks`);
    const params = new URLSearchParams({ _csrf: csrfFrom(page.text) });
    for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) params.append(k, String(x));
    return admin.post(`/projects/${projectId}/tasks/bulk`).type('form').set('HX-Request', 'true').set('HX-Target', 'bulk-outcome').send(params.toString());
  }

  beforeAll(async () => {
    t = await createTestApp();
    const adminUser = await createAdmin(t);
    leeId = (await createUser(t, 'lee@example.org')).id;
    const s = t.services();
    const project = await s.projects.create(adminUser, { name: 'Scenes', reviewStages: 0 });
    projectId = project.id;
    const access = await s.projects.access(adminUser, projectId, 'admin');
    await s.members.add(access, 'lee@example.org', { role: 'member', stageIds: [] });
    await s.projects.updateSchemas(access,
      [{ name: 'image', type: 'image_url', required: true }, { name: 'caption', type: 'text', required: false }],
      [{ name: 'label', type: 'choice', options: ['car', 'bus'] }]);
    labelId = Number((await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]))[0].id);
    await t.sql(
      `insert into tasks (project_id, name, stage_id, priority, priority_score, client_batch_id, data, metadata)
       select $1, format('a-%s', n), $2, n, 0.5, 'batch-a', jsonb_build_object('image', format('https://example.org/%s.jpg', n), 'caption', 'x, "y"'),
              '{"camera": "front"}'
       from generate_series(1, 5) n`,
      [projectId, labelId],
    );
    admin = await loggedIn(t, 'admin@example.org');
    member = await loggedIn(t, 'lee@example.org');
    token = (await s.apiTokens.create(adminUser, 'archives')).token;
  });
  afterAll(() => t.close());
  const download = async (path: string) => (await admin.get(path)).text;

  it('archives a selection into one record, skipping tasks with saved work', async () => {
    const [a1, a2, a3] = await idOf('a-1', 'a-2', 'a-3');
    // Lee has saved work on a-3; a-2 is merely assigned to Lee
    await t.sql(`insert into assignments (task_id, stage_id, user_id, status, kind) values ($1, $2, $3, 'saved', 'manual'), ($4, $2, $3, 'assigned', 'manual')`, [a3, labelId, leeId, a2]);
    await t.sql(`update tasks t set assignment_id = a.id, assignee_id = a.user_id, assignment_status = a.status, assignment_kind = a.kind
                 from assignments a where a.task_id = t.id`);
    const res = await bulk({ action: 'archive', note: 'Bad frames', ids: [a1, a2, a3] });
    expect(res.text).toContain('2 tasks changed, 1 skipped');
    expect(res.text).toContain('1 skipped: has saved work');
    const archives = await t.sql<Record<string, any>>('select * from archives where project_id = $1', [projectId]);
    expect(archives).toHaveLength(1);
    expect(archives[0]).toMatchObject({ task_count: 2, reason: 'Bad frames', automatic: false });
    expect(await live()).toEqual(['a-3', 'a-4', 'a-5']);
    // a-2's assignment ended: it is in nobody's queue
    expect((await t.sql(`select status from assignments where task_id = $1`, [a2]))[0]).toEqual({ status: 'released' });
  });

  it('removes archived tasks from the list, totals, the API and bulk actions', async () => {
    expect(await listNames()).toEqual(['a-5', 'a-4', 'a-3']);
    const api = await request(t.app.server).get(`/api/v1/projects/${projectId}/tasks`).set('Authorization', `Bearer ${token}`);
    expect(api.body.items.map((x: { name: string }) => x.name)).toEqual(['a-3', 'a-4', 'a-5']);
    const [a1] = await idOf('a-1');
    expect((await admin.get(`/projects/${projectId}/tasks/${a1}`)).status).toBe(404);
    expect((await bulk({ action: 'hold', ids: [a1] })).text).toContain('1 skipped: not found in this project (or archived)');
  });

  it('shows the archive history; members cannot see it', async () => {
    const page = await admin.get(`/projects/${projectId}/archives`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Ada Admin');
    expect(page.text).toContain('Bad frames');
    expect(page.text).toMatch(/<td class="num">2<\/td>/);
    expect((await member.get(`/projects/${projectId}/archives`)).status).toBe(403);
  });

  it('downloads archived tasks in the upload format (CSV and JSON)', async () => {
    const [archive] = await t.sql<{ id: string }>('select id from archives where project_id = $1', [projectId]);
    await t.sql(`insert into answer_sets (task_id, kind, answers) select id, 'default', '{"label": "bus"}' from tasks where name = 'a-1' and project_id = $1`, [projectId]);
    const csv = await admin.get(`/projects/${projectId}/archives/${archive.id}/download?format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-disposition']).toBe(`attachment; filename="scenes-archive-${archive.id}.csv"`);
    const rows = parse(csv.text, { columns: true }) as Record<string, string>[];
    expect(rows).toEqual([
      { name: 'a-1', image: 'https://example.org/1.jpg', caption: 'x, "y"', priority: '1', priority_score: '0.5', client_batch_id: 'batch-a', 'metadata.camera': 'front', output_label: 'bus' },
      { name: 'a-2', image: 'https://example.org/2.jpg', caption: 'x, "y"', priority: '2', priority_score: '0.5', client_batch_id: 'batch-a', 'metadata.camera': 'front', output_label: '' },
    ]);
    const json = await admin.get(`/projects/${projectId}/archives/${archive.id}/download?format=json`);
    expect(JSON.parse(json.text)[0]).toEqual({
      name: 'a-1', image: 'https://example.org/1.jpg', caption: 'x, "y"', priority: 1, priority_score: '0.5', client_batch_id: 'batch-a', 'metadata.camera': 'front', output_label: 'bus',
    });
    expect((await admin.get(`/projects/${projectId}/archives/999999/download`)).status).toBe(404);
    expect((await member.get(`/projects/${projectId}/archives/${archive.id}/download`)).status).toBe(403);
  });

  it('an archive download uploads into an empty project as the same tasks (CSV and JSON)', async () => {
    const [archive] = await t.sql<{ id: string }>('select id from archives where project_id = $1', [projectId]);
    const adminUser = (await t.sql<{ id: string }>(`select id from users where email = 'admin@example.org'`))[0];
    const s = t.services();
    const admin = await s.users.get(Number(adminUser.id));
    for (const format of ['csv', 'json'] as const) {
      const file = await download(`/projects/${projectId}/archives/${archive.id}/download?format=${format}`);
      const target = await s.projects.create(admin, { name: `Reupload ${format}`, reviewStages: 0 });
      const access = await s.projects.access(admin, target.id, 'admin');
      await s.projects.updateSchemas(access,
        [{ name: 'image', type: 'image_url', required: true }, { name: 'caption', type: 'text', required: false }],
        [{ name: 'label', type: 'choice', options: ['car', 'bus'] }]);
      const upload = await uploadAndWait(t, token, target.id, Buffer.from(file), `archive.${format}`);
      expect(upload.status, JSON.stringify(upload)).toBe('completed');
      const columns = `name, data, metadata, priority, trim_scale(priority_score)::text as score, client_batch_id,
        (select answers from answer_sets a where a.task_id = t.id and a.kind = 'default') as defaults`;
      const original = await t.sql(`select ${columns} from tasks t where archive_id = $1 order by name`, [archive.id]);
      const copied = await t.sql(`select ${columns} from tasks t where project_id = $1 order by name`, [target.id]);
      expect(copied).toEqual(original);
    }
  });

  it('restores the tasks with their history; a name uploaded again meanwhile is reported, not overwritten', async () => {
    const [archive] = await t.sql<{ id: string }>('select id from archives where project_id = $1', [projectId]);
    // a-2 was uploaded again while archived
    await t.sql(`insert into tasks (project_id, name, stage_id, data) values ($1, 'a-2', $2, '{"image": "https://example.org/new.jpg"}')`, [projectId, labelId]);
    const page = await admin.get(`/projects/${projectId}/archives`);
    let res = await admin.post(`/projects/${projectId}/archives/${archive.id}/restoration`).type('form').send(`_csrf=${encodeURIComponent(csrfFrom(page.text))}`);
    expect(res.status).toBe(303);
    let after = await admin.get(res.headers.location);
    expect(after.text).toContain('1 task restored; 1 task not restored because a live task has the same name');
    expect(await live()).toEqual(['a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
    const a2s = await t.sql<{ data: Record<string, string>; archive_id: string | null }>(`select data, archive_id from tasks where project_id = $1 and name = 'a-2' order by id`, [projectId]);
    expect(a2s.map((r) => [r.data.image, r.archive_id])).toEqual([['https://example.org/2.jpg', archive.id], ['https://example.org/new.jpg', null]]);
    const [a1] = await idOf('a-1');
    const history = await t.sql<{ kind: string }>('select kind from task_events where task_id = $1 order by id', [a1]);
    expect(history.map((e) => e.kind)).toEqual(['archived', 'restored']);

    // once the clash is gone, the rest can be restored
    await t.sql(`delete from tasks where project_id = $1 and name = 'a-2' and archive_id is null`, [projectId]);
    res = await admin.post(`/projects/${projectId}/archives/${archive.id}/restoration`).type('form').send(`_csrf=${encodeURIComponent(csrfFrom(page.text))}`);
    after = await admin.get(res.headers.location);
    expect(after.text).toContain('1 task restored.');
    expect(after.text).toContain('Restored');
  });

  it('archives inactive tasks automatically, once, as N/A', async () => {
    const s = t.services();
    await t.sql('update projects set auto_archive_after_days = 30 where id = $1', [projectId]);
    await t.sql(`update tasks set last_activity_at = '2026-01-01' where project_id = $1 and name in ('a-4', 'a-5')`, [projectId]);
    await t.sql(`update tasks set last_activity_at = '2026-02-15' where project_id = $1 and name not in ('a-4', 'a-5')`, [projectId]);
    const now = new Date('2026-03-01T00:00:00Z');
    const first = await s.archives.archiveInactive(now, 'run-1');
    expect(first).toEqual([{ projectId, archiveId: expect.any(Number), archived: 2 }]);
    expect(await live()).toEqual(['a-1', 'a-2', 'a-3']);
    const [record] = await t.sql<Record<string, any>>('select * from archives where id = $1', [first[0].archiveId]);
    expect(record).toMatchObject({ automatic: true, created_by_id: null, task_count: 2, reason: 'No activity for 30 days' });
    const [event] = await t.sql<Record<string, any>>(`select * from task_events where kind = 'archived' and after->>'archive' = $1 limit 1`, [String(first[0].archiveId)]);
    expect(event.actor_id).toBeNull();
    expect((await admin.get(`/projects/${projectId}/archives`)).text).toMatch(/<td class="nowrap muted">N\/A<\/td>/);
    // a second run finds nothing and leaves no empty record
    const count = async () => (await t.sql<{ n: number }>('select count(*)::int as n from archives'))[0].n;
    const before = await count();
    expect(await s.archives.archiveInactive(now, 'run-2')).toEqual([]);
    expect(await count()).toBe(before);

    // a run resumed after a crash (same run, same start) fills the same record instead of opening another
    await t.sql(`insert into tasks (project_id, name, stage_id, last_activity_at) values ($1, 'a-6', $2, '2026-01-01')`, [projectId, labelId]);
    const resumed = await s.archives.archiveInactive(now, 'run-1');
    expect(resumed).toEqual([{ projectId, archiveId: first[0].archiveId, archived: 1 }]);
    expect(await count()).toBe(before);
    expect((await t.sql<Record<string, any>>('select task_count from archives where id = $1', [first[0].archiveId]))[0].task_count).toBe(3);
  });

  it('archives more than 5,000 tasks as one job and one record', async () => {
    await t.sql(`insert into tasks (project_id, name, stage_id, client_batch_id) select $1, format('big-%s', n), $2, 'big' from generate_series(1, 6000) n`, [projectId, labelId]);
    const res = await bulk({ action: 'archive', scope: 'all', filter: 'batch=big&batch_match=exact' });
    const operationId = Number(/bulk\/(\d+)"/.exec(res.text)![1]);
    for (let i = 0; i < 300; i++) {
      const [op] = await t.sql<{ status: string }>('select status from bulk_operations where id = $1', [operationId]);
      if (op.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const [op] = await t.sql<Record<string, any>>('select * from bulk_operations where id = $1', [operationId]);
    expect(op).toMatchObject({ status: 'completed', changed: 6000 });
    const records = await t.sql<Record<string, any>>('select * from archives where id = $1', [op.params.archiveId]);
    expect(records).toEqual([expect.objectContaining({ task_count: 6000 })]);
    expect((await t.sql<{ n: number }>(`select count(*)::int as n from tasks where client_batch_id = 'big' and archive_id is null`))[0].n).toBe(0);
  });
});
