import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import request from 'supertest';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { createAdmin, createTestApp, createUser, csrfFrom, loggedIn, type TestApp } from './helpers/app.ts';
import { postUpload, uploadAndWait, uploadErrors, waitForUpload } from './helpers/uploads.ts';

let t: TestApp;
let admin: IUser;
let token: string;
let projectId: number;
let stages: Record<string, number>;
let users: Record<string, number>;

beforeAll(async () => {
  t = await createTestApp();
  admin = await createAdmin(t);
  const ann = await createUser(t, 'ann@example.org');
  const rev = await createUser(t, 'rev@example.org');
  await createUser(t, 'outsider@example.org');
  users = { ann: ann.id, rev: rev.id };
  token = (await t.services().apiTokens.create(admin, 'tests')).token;
  const services = t.services();
  const project = await services.projects.create(admin, { name: 'Uploads', reviewStages: 1 });
  projectId = project.id;
  const access = await services.projects.access(admin, projectId, 'admin');
  await services.members.add(access, 'ann@example.org', { role: 'member', stageIds: [] });
  await services.members.add(access, 'rev@example.org', { role: 'member', stageIds: [] });
  await services.projects.updateSchemas(
    access,
    [
      { name: 'image', type: 'image_url', required: true },
      { name: 'caption', type: 'text', required: false },
      { name: 'count', type: 'integer', required: false },
    ],
    [
      { name: 'label', type: 'choice', options: ['cat', 'dog'] },
      { name: 'confidence', type: 'number' },
    ],
  );
  stages = Object.fromEntries((await t.sql<{ name: string; id: string }>('select name, id from stages where project_id = $1', [projectId])).map((s) => [s.name, Number(s.id)]));
});
afterAll(async () => {
  await t?.close();
});

const tasksOf = (uploadId: number) =>
  t.sql<Record<string, any>>('select * from tasks where upload_id = $1 order by id', [uploadId]);

describe('CSV upload', () => {
  it('creates tasks with inputs, metadata, priorities, default answers, reservations and pre-assignments', async () => {
    const csv = [
      'name,image,caption,count,priority,priority_score,client_batch_id,metadata.source,output_label,output_confidence,reserve_for,pre_assign.Label,pre_assign.Review_1',
      'a-1,https://img.example.org/1.png,"A cat, sitting",3,-5,0.75,b1,cam-1,cat,0.9,,,',
      'a-2,https://img.example.org/2.png,,,,,,,,,ann@example.org,,rev@example.org',
      'a-3,https://img.example.org/3.png,,,,,,,,,,ann@example.org,',
      'a-4,https://img.example.org/4.png,,,,,,,,,rev@example.org,ann@example.org,',
    ].join('\n');
    const upload = await uploadAndWait(t, token, projectId, csv, 'tasks.csv', { defaultPriority: '7', clientBatchId: 'default-batch' });
    expect(upload).toMatchObject({ status: 'completed', format: 'csv', rows: { processed: 4, succeeded: 4, failed: 0 } });
    const tasks = await tasksOf(upload.id);
    expect(tasks.map((x) => x.name)).toEqual(['a-1', 'a-2', 'a-3', 'a-4']);
    const [a1, a2, a3, a4] = tasks;
    expect(a1).toMatchObject({
      data: { image: 'https://img.example.org/1.png', caption: 'A cat, sitting', count: 3 }, metadata: { source: 'cam-1' },
      priority: -5, priority_score: '0.750000000', client_batch_id: 'b1', state: 'new', stage_id: String(stages.Label), assignee_id: null,
      created_by_id: String(admin.id),
    });
    expect(a2).toMatchObject({ priority: 7, client_batch_id: 'default-batch', priority_score: null, assignee_id: String(users.ann), assignment_kind: 'reserved', assignment_status: 'assigned', pre_assign: { Review_1: users.rev } });
    expect(a3).toMatchObject({ assignee_id: String(users.ann), assignment_kind: 'preassign', pre_assign: { Label: users.ann } });
    // reserve_for wins over pre_assign.Label
    expect(a4).toMatchObject({ assignee_id: String(users.rev), assignment_kind: 'reserved', pre_assign: { Label: users.ann } });
    const assignments = await t.sql<Record<string, any>>('select * from assignments where task_id = any($1::bigint[]) order by task_id', [tasks.map((x) => x.id)]);
    expect(assignments.map((a) => [a.task_id, a.user_id, a.kind, a.status, a.stage_id])).toEqual([
      [a2.id, String(users.ann), 'reserved', 'assigned', String(stages.Label)],
      [a3.id, String(users.ann), 'preassign', 'assigned', String(stages.Label)],
      [a4.id, String(users.rev), 'reserved', 'assigned', String(stages.Label)],
    ]);
    for (const a of assignments) expect(tasks.find((x) => x.id === a.task_id)!.assignment_id).toBe(a.id);
    const answers = await t.sql<Record<string, any>>('select * from answer_sets where task_id = any($1::bigint[])', [tasks.map((x) => x.id)]);
    expect(answers).toHaveLength(1);
    expect(answers[0]).toMatchObject({ task_id: a1.id, kind: 'default', answers: { label: 'cat', confidence: 0.9 }, user_id: null });
    // each task's creation is in its history without an event row per task: the task row names
    // its creator and upload, and the task page shows "Created by … from upload …"
    const events = await t.sql<Record<string, any>>(`select * from task_events where task_id = any($1::bigint[])`, [tasks.map((x) => x.id)]);
    expect(events).toHaveLength(0);
    for (const x of tasks) expect(x).toMatchObject({ created_by_id: String(admin.id), upload_id: String(upload.id) });
    const adminClient = await loggedIn(t, 'admin@example.org');
    const taskPage = await adminClient.get(`/projects/${projectId}/tasks/${a1.id}`);
    expect(taskPage.status).toBe(200);
    expect(taskPage.text).toContain('Created by Ada Admin from upload tasks.csv');
    expect(await uploadErrors(t, token, projectId, upload.id)).toEqual([]);
  });
});

describe('other formats', () => {
  it('reads a JSON array, JSON Lines and a RedBrick items list', async () => {
    const json = JSON.stringify([
      { name: 'j-1', image: 'https://x.org/1.png', priority: 2, metadata: { site: 'A' }, output_label: 'dog' },
      { name: 'j-2', image: 'https://x.org/2.png', count: '4', priority_score: 0.5, pre_assign: { Label: 'ann@example.org' } },
    ], null, 2);
    const a = await uploadAndWait(t, token, projectId, json, 'tasks.json');
    expect(a).toMatchObject({ status: 'completed', format: 'json', rows: { processed: 2, succeeded: 2, failed: 0 } });
    const [j1, j2] = await tasksOf(a.id);
    expect(j1).toMatchObject({ name: 'j-1', priority: 2, metadata: { site: 'A' } });
    expect(j2).toMatchObject({ data: { image: 'https://x.org/2.png', count: 4 }, priority_score: '0.500000000', assignee_id: String(users.ann) });

    const jsonl = '{"name":"l-1","image":"https://x.org/1.png"}\n\n{"name":"l-2","image":"https://x.org/2.png","client_batch_id":"B"}\n';
    const b = await uploadAndWait(t, token, projectId, jsonl, 'tasks.jsonl');
    expect(b).toMatchObject({ status: 'completed', format: 'jsonl', rows: { processed: 2, succeeded: 2, failed: 0 } });

    const items = JSON.stringify([
      { name: 'study-1', image: 'https://x.org/s1.png', series: [{ items: ['s3://bucket/1.dcm', 's3://bucket/2.dcm'], name: 'CT' }], metaData: { hospital: 'H' }, priority: 0.25, preAssign: { Label: 'ann@example.org', Review_1: 'rev@example.org' } },
      { name: 'study-2', image: 'https://x.org/s2.png', items: ['https://x.org/a.png'] },
    ]);
    const c = await uploadAndWait(t, token, projectId, items, 'items.json');
    expect(c).toMatchObject({ status: 'completed', format: 'items', rows: { processed: 2, succeeded: 2, failed: 0 } });
    const [s1, s2] = await tasksOf(c.id);
    expect(s1).toMatchObject({
      data: { image: 'https://x.org/s1.png', series: [{ items: ['s3://bucket/1.dcm', 's3://bucket/2.dcm'], name: 'CT' }] },
      metadata: { hospital: 'H' }, priority: 0, priority_score: '0.250000000', assignee_id: String(users.ann), pre_assign: { Label: users.ann, Review_1: users.rev },
    });
    expect(s2.data).toEqual({ image: 'https://x.org/s2.png', items: ['https://x.org/a.png'] });
  });
});

describe('bad input', () => {
  let n = 0;
  const name = () => `bad-${++n}`;
  const row = (nm = name(), extra = '') => `${nm},https://x.org/${nm}.png${extra}`;

  it('an empty file fails', async () => {
    const u = await uploadAndWait(t, token, projectId, '', 'empty.csv');
    expect(u).toMatchObject({ status: 'failed', errorMessage: 'The file is empty.', rows: { processed: 0 } });
  });

  it('a header without rows fails with a clear message', async () => {
    const u = await uploadAndWait(t, token, projectId, 'name,image\n', 'header.csv');
    expect(u).toMatchObject({ status: 'failed', errorMessage: 'The file has a header row but no tasks.' });
  });

  it('binary garbage fails', async () => {
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 256;
    const u = await uploadAndWait(t, token, projectId, bytes, 'photo.csv');
    expect(u.status).toBe('failed');
    expect(u.errorMessage).toMatch(/not text/);
  });

  it('invalid UTF-8 rejects that row; the others land', async () => {
    const good1 = name(); const bad = name(); const good2 = name();
    const content = Buffer.concat([
      Buffer.from(`name,image,caption\n${row(good1)},ok\n${row(bad)},caf`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(`\n${row(good2)},fine\n`),
    ]);
    const u = await uploadAndWait(t, token, projectId, content, 'latin.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 3, succeeded: 2, failed: 1 } });
    expect((await tasksOf(u.id)).map((x) => x.name)).toEqual([good1, good2]);
    expect(await uploadErrors(t, token, projectId, u.id)).toEqual([expect.objectContaining({ row: 2, field: 'caption', message: expect.stringMatching(/UTF-8/) })]);
  });

  it('a UTF-8 byte order mark is accepted', async () => {
    const nm = name();
    const u = await uploadAndWait(t, token, projectId, `\uFEFFname,image,caption\n${row(nm)},Ünïcödé ✓\n`, 'bom.csv');
    expect(u).toMatchObject({ status: 'completed', rows: { succeeded: 1 } });
    expect((await tasksOf(u.id))[0]).toMatchObject({ name: nm, data: { caption: 'Ünïcödé ✓' } });
  });

  it('an unterminated quote keeps the rows before it and reports the rest as unreadable', async () => {
    const ok = name();
    const u = await uploadAndWait(t, token, projectId, `name,image,caption\n${row(ok)},fine\n${row()},"never closed\n${row()},x\n`, 'quote.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 2, succeeded: 1, failed: 1 } });
    expect((await tasksOf(u.id)).map((x) => x.name)).toEqual([ok]);
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors).toEqual([expect.objectContaining({ row: 2, message: expect.stringMatching(/unterminated quote.*rest of the file/) })]);
  });

  it('a quote that is never closed on the first row fails the whole file', async () => {
    const u = await uploadAndWait(t, token, projectId, `name,image\n"x,https://x.org/1.png\n`, 'quote1.csv');
    expect(u.status).toBe('failed');
    expect(u.errorMessage).toMatch(/unterminated quote/);
  });

  it('a row with the wrong column count is rejected', async () => {
    const ok = name();
    const u = await uploadAndWait(t, token, projectId, `name,image,caption\n${row(ok)},fine\n${row()}\n${row()},a,b\n`, 'columns.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 3, succeeded: 1, failed: 2 } });
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors.map((e) => [e.row, e.message])).toEqual([[2, 'Expected 3 columns as in the header, found 2'], [3, 'Expected 3 columns as in the header, found 4']]);
  });

  it('a 10 MB field rejects its row only', async () => {
    const ok = name();
    const u = await uploadAndWait(t, token, projectId, `name,image,caption\n${row()},${'x'.repeat(10 * 1024 * 1024)}\n${row(ok)},small\n`, 'big.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 2, succeeded: 1, failed: 1 } });
    expect((await tasksOf(u.id)).map((x) => x.name)).toEqual([ok]);
    const [error] = await uploadErrors(t, token, projectId, u.id);
    expect(error).toMatchObject({ row: 1, field: 'caption', message: expect.stringMatching(/too large/) });
    expect(error.raw!.length).toBeLessThan(400);
  });

  it('a missing required input column fails the whole upload and names the column', async () => {
    const u = await uploadAndWait(t, token, projectId, `name,caption\nx,y\n`, 'noimage.csv');
    expect(u).toMatchObject({ status: 'failed', rows: { processed: 0, succeeded: 0 } });
    expect(u.errorMessage).toContain('“image”');
  });

  it('unknown columns are reported and ignored', async () => {
    const nm = name();
    const u = await uploadAndWait(t, token, projectId, `name,image,colour,Caption\n${row(nm)},red,x\n`, 'unknown.csv');
    expect(u).toMatchObject({ status: 'completed', rows: { succeeded: 1, failed: 0 } });
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors.map((e) => [e.row, e.field])).toEqual([[0, 'colour'], [0, 'Caption']]);
    expect((await tasksOf(u.id))[0].data).toEqual({ image: `https://x.org/${nm}.png` });
  });

  it('JSON that is not an array fails', async () => {
    const u = await uploadAndWait(t, token, projectId, JSON.stringify({ tasks: [{ name: 'x', image: 'https://x.org' }] }, null, 2), 'object.json');
    expect(u.status).toBe('failed');
    expect(u.errorMessage).toMatch(/must be an array/);
  });

  it('a JSON Lines file with one broken line keeps the others', async () => {
    const a = name(); const b = name();
    const u = await uploadAndWait(t, token, projectId, `{"name":"${a}","image":"https://x.org/a"}\n{"name": "broken", "image": \n{"name":"${b}","image":"https://x.org/b"}\n`, 'broken.jsonl');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 3, succeeded: 2, failed: 1 } });
    expect((await tasksOf(u.id)).map((x) => x.name)).toEqual([a, b]);
    expect(await uploadErrors(t, token, projectId, u.id)).toEqual([expect.objectContaining({ row: 2, message: expect.stringMatching(/^Not valid JSON/) })]);
  });

  it('bad priorities and scores reject their rows', async () => {
    const ok = name();
    const rows = [['abc', ''], ['1.5', ''], ['2^40', ''], ['2147483648', ''], ['', '1.0000000001'], ['', '0.1234567891'], ['', '-0.1'], ['', 'high'], ['-2147483648', '1']];
    const csv = ['name,image,priority,priority_score', ...rows.map(([p, s]) => `${row()},${p},${s}`), `${row(ok)},3,0.123456789`].join('\n');
    const u = await uploadAndWait(t, token, projectId, csv, 'priorities.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 10, succeeded: 2, failed: 8 } });
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors.map((e) => [e.row, e.field])).toEqual([[1, 'priority'], [2, 'priority'], [3, 'priority'], [4, 'priority'], [5, 'priority_score'], [6, 'priority_score'], [7, 'priority_score'], [8, 'priority_score']]);
    const tasks = await tasksOf(u.id);
    expect(tasks.map((x) => [x.priority, x.priority_score])).toEqual([[-2147483648, '1.000000000'], [3, '0.123456789']]);
  });

  it('pre-assignment to an unknown email or stage rejects the row', async () => {
    const csv = [
      'name,image,pre_assign.Label,pre_assign.Review_9,reserve_for,pre_assign.Ground Truth',
      `${row()},nobody@example.org,,,`,
      `${row()},,ann@example.org,,`,
      `${row()},,,outsider@example.org,`,
      `${row()},,,,ann@example.org`,
    ].join('\n');
    const u = await uploadAndWait(t, token, projectId, csv, 'preassign.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 4, succeeded: 0, failed: 4 } });
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors.map((e) => [e.row, e.field, e.message])).toEqual([
      [1, 'pre_assign.Label', 'nobody@example.org is not a member of this project'],
      [2, 'pre_assign.Review_9', 'There is no stage “Review_9” in this project'],
      [3, 'reserve_for', 'outsider@example.org is not a member of this project'],
      [4, 'pre_assign.Ground Truth', 'Ground Truth is the final stage: nobody works in it'],
    ]);
  });

  it('duplicate names inside the file and against existing tasks are reported, never a second task', async () => {
    const a = name(); const b = name();
    const first = await uploadAndWait(t, token, projectId, `name,image\n${row(a)}\n`, 'first.csv');
    expect(first.status).toBe('completed');
    const u = await uploadAndWait(t, token, projectId, `name,image\n${row(a)}\n${row(b)}\n${row(b)}\n`, 'dupes.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 3, succeeded: 1, failed: 2 } });
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors.map((e) => [e.row, e.field])).toEqual([[1, 'name'], [3, 'name']]);
    expect(errors[0].message).toMatch(/already exists in this project/);
    expect(errors[1].message).toMatch(/appears earlier in this file \(row 2\)/);
    const [{ n }] = await t.sql<{ n: string }>('select count(*) as n from tasks where project_id = $1 and name = any($2)', [projectId, [a, b]]);
    expect(Number(n)).toBe(2);
  });

  it('100,000 bad rows: the error list is capped at 1,000, the counters are exact, good rows land', async () => {
    const lines = ['name,image,priority'];
    for (let i = 1; i <= 100_000; i++) lines.push(`many-${i},https://x.org/${i}.png,${i % 10 === 0 ? '1' : 'abc'}`);
    const u = await uploadAndWait(t, token, projectId, lines.join('\n'), 'many.csv');
    expect(u).toMatchObject({ status: 'completed_with_errors', rows: { processed: 100_000, succeeded: 10_000, failed: 90_000 }, errorCount: 1000 });
    const [{ n }] = await t.sql<{ n: string }>('select count(*) as n from tasks where upload_id = $1', [u.id]);
    expect(Number(n)).toBe(10_000);
    const errors = await uploadErrors(t, token, projectId, u.id);
    expect(errors).toHaveLength(1000);
    expect(errors[0]).toMatchObject({ row: 1, field: 'priority' });
  }, 120_000);
});

describe('failed rows, cancel, delete', () => {
  it('downloads the rejected rows as CSV with an error column, ready to fix and upload again', async () => {
    const csv = 'name,image,priority\nfr-1,https://x.org/1.png,abc\nfr-2,https://x.org/2.png,1\nfr-3,not a url,2\n';
    const u = await uploadAndWait(t, token, projectId, csv, 'fix-me.csv');
    expect(u.rows).toEqual({ processed: 3, succeeded: 1, failed: 2 });
    const res = await request(t.app.server).get(`/api/v1/projects/${projectId}/uploads/${u.id}/failed-rows`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.headers['content-disposition']).toBe(`attachment; filename="upload-${u.id}-failed-rows.csv"`);
    const lines = res.text.trim().split('\n');
    expect(lines[0]).toBe('name,image,priority,error');
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 3).join(','))).toEqual(['fr-1,https://x.org/1.png,abc', 'fr-3,not a url,2']);
    // fixed and uploaded again: the error column is ignored
    const fixed = res.text.replace(',abc,', ',1,').replace('not a url', 'https://x.org/3.png');
    const again = await uploadAndWait(t, token, projectId, fixed, 'fixed.csv');
    expect(again).toMatchObject({ status: 'completed', rows: { succeeded: 2, failed: 0 }, errorCount: 0 });
  });

  it('duplicate rows come back in the failed rows exactly as read (CSV and JSON Lines)', async () => {
    const nm = `dup-${Date.now()}`;
    const caption = 'tab\there, "quoted", back\\slash\nand a newline';
    const csv = stringify([['name', 'image', 'caption'], [nm, 'https://x.org/1.png', 'first'], [nm, 'https://x.org/2.png', caption]]);
    const u = await uploadAndWait(t, token, projectId, csv, 'dup-rows.csv');
    expect(u.rows).toEqual({ processed: 2, succeeded: 1, failed: 1 });
    const res = await request(t.app.server).get(`/api/v1/projects/${projectId}/uploads/${u.id}/failed-rows`).set('Authorization', `Bearer ${token}`);
    expect(parse(res.text)).toEqual([['name', 'image', 'caption', 'error'], [nm, 'https://x.org/2.png', caption, 'A task with this name appears earlier in this file (row 1)']]);

    const element = { name: `${nm}-j`, image: 'https://x.org/3', metadata: { note: 'tab\t, back\\slash' } };
    const j = await uploadAndWait(t, token, projectId, `${JSON.stringify(element)}\n${JSON.stringify(element)}\n`, 'dup-rows.jsonl');
    const jres = await request(t.app.server).get(`/api/v1/projects/${projectId}/uploads/${j.id}/failed-rows`).set('Authorization', `Bearer ${token}`);
    expect(jres.text.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ ...element, error: 'A task with this name appears earlier in this file (row 1)' }]);
  });

  it('failed rows of a JSON Lines upload come back as JSON Lines with an error key', async () => {
    const u = await uploadAndWait(t, token, projectId, '{"name":"jf-1","image":"https://x.org/1"}\n{"name":"jf-2"}\n', 'f.jsonl');
    const res = await request(t.app.server).get(`/api/v1/projects/${projectId}/uploads/${u.id}/failed-rows`).set('Authorization', `Bearer ${token}`);
    expect(res.text.trim().split('\n').map((l) => JSON.parse(l))).toEqual([{ name: 'jf-2', error: 'image: The required input “image” is missing' }]);
  });

  it('deleting an upload archives its tasks without submitted work and reports the rest', async () => {
    const u = await uploadAndWait(t, token, projectId, 'name,image\ndel-1,https://x.org/1\ndel-2,https://x.org/2\ndel-3,https://x.org/3\n', 'del.csv');
    const [d1, d2] = await tasksOf(u.id);
    await t.sql(`update tasks set last_submitted_at = now() where id = $1`, [d1.id]);
    await t.sql(`update tasks set assignee_id = $2, assignment_status = 'saved' where id = $1`, [d2.id, users.ann]);
    const res = await request(t.app.server).delete(`/api/v1/projects/${projectId}/uploads/${u.id}`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ archived: 1, kept: 2, upload: { deleteReport: expect.stringMatching(/^1 task archived .*; 2 kept/) } });
    const tasks = await tasksOf(u.id);
    expect(tasks.map((x) => x.archive_id === null)).toEqual([true, true, false]);
    const [archive] = await t.sql<Record<string, any>>('select * from archives where id = $1', [res.body.archiveId]);
    expect(archive).toMatchObject({ task_count: 1, created_by_id: String(admin.id), reason: `Upload ${u.id} (del.csv) deleted` });
    const again = await request(t.app.server).delete(`/api/v1/projects/${projectId}/uploads/${u.id}`).set('Authorization', `Bearer ${token}`);
    expect(again.status).toBe(409);
  });

  it('managers may upload but not delete; members see no uploads', async () => {
    await createUser(t, 'mgr@example.org');
    const services = t.services();
    const access = await services.projects.access(admin, projectId, 'admin');
    await services.members.add(access, 'mgr@example.org', { role: 'manager', stageIds: [] });
    const mgr = await loggedIn(t, 'mgr@example.org');
    const ann = await loggedIn(t, 'ann@example.org');
    const page = await mgr.get(`/projects/${projectId}/uploads`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('id="uploads"');
    expect(page.text).not.toContain('/deletion');
    expect((await ann.get(`/projects/${projectId}/uploads`)).status).toBe(403);
    expect((await ann.get(`/projects/${projectId}`)).text).not.toContain(`/projects/${projectId}/uploads`);
  });
});

describe('upload form and limits', () => {
  it('the page form works without JavaScript: CSRF token as the first field, then 303 to the history', async () => {
    const client = await loggedIn(t, 'admin@example.org');
    const page = await client.get(`/projects/${projectId}/uploads`);
    const csrf = csrfFrom(page.text);
    const res = await client.post(`/projects/${projectId}/uploads`).field('_csrf', csrf).field('defaultPriority', '3')
      .attach('file', Buffer.from('name,image\nform-1,https://x.org/1\n'), 'form.csv');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/projects/${projectId}/uploads`);
    const [upload] = await t.sql<{ id: string }>(`select id from uploads where file_name = 'form.csv'`);
    const done = await waitForUpload(t, token, projectId, Number(upload.id));
    expect(done).toMatchObject({ status: 'completed', defaultPriority: 3 });
    const history = await client.get(`/projects/${projectId}/uploads`);
    expect(history.text).toContain('form.csv');
    expect(history.text).toMatch(/received: its rows are being processed/);
    // a finished row does not poll; its fragment is the row alone
    const row = await client.get(`/projects/${projectId}/uploads/${upload.id}`).set('HX-Request', 'true').set('HX-Target', `upload-${upload.id}`);
    expect(row.text.trim()).toMatch(/^<tbody id="upload-\d+"/);
    expect(row.text).not.toContain('hx-trigger');
  });

  it('refuses a form without a CSRF token', async () => {
    const client = await loggedIn(t, 'admin@example.org');
    const res = await client.post(`/projects/${projectId}/uploads`).attach('file', Buffer.from('name,image\nx,https://x.org\n'), 'nocsrf.csv');
    expect(res.status).toBe(403);
    expect(await t.sql(`select id from uploads where file_name = 'nocsrf.csv'`)).toEqual([]);
  });

  it('invalid options answer 422 and store nothing', async () => {
    for (const [field, value] of [['defaultPriority', 'abc'], ['defaultPriority', '1.5'], ['defaultPriorityScore', '1.5']]) {
      const res = await postUpload(t, token, projectId, 'name,image\nx,https://x.org\n', 'opts.csv', { [field]: value });
      expect(res.status).toBe(422);
      expect(res.body.details[field]).toBeTruthy();
    }
    const missing = await request(t.app.server).post(`/api/v1/projects/${projectId}/uploads`).set('Authorization', `Bearer ${token}`).field('defaultPriority', '1');
    expect(missing.status).toBe(422);
    expect(await t.sql(`select id from uploads where file_name = 'opts.csv'`)).toEqual([]);
  });
});

describe('size limit and cancel (no workers)', () => {
  let small: TestApp;
  let smallToken: string;
  let smallProject: number;
  beforeAll(async () => {
    small = await createTestApp({ UPLOAD_MAX_BYTES: '1000', RUN_WORKERS: 'false' });
    const a = await createAdmin(small);
    smallToken = (await small.services().apiTokens.create(a, 't')).token;
    smallProject = (await small.services().projects.create(a, { name: 'Small', reviewStages: 0 })).id;
  });
  afterAll(async () => {
    await small?.close();
  });

  it('a file over UPLOAD_MAX_BYTES answers 413 with a clear message and leaves nothing behind', async () => {
    const res = await postUpload(small, smallToken, smallProject, `name\n${'x\n'.repeat(2000)}`, 'big.csv');
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ error: 'too_large', message: expect.stringMatching(/larger than the upload limit of 1000 B/) });
    expect(await small.sql('select id from uploads')).toEqual([]);
    expect(await small.sql('select upload_id from upload_chunks')).toEqual([]);
  });

  it('a queued upload is cancelled at once; a running one stops at its next batch', async () => {
    const res = await postUpload(small, smallToken, smallProject, 'name\na\n', 'cancel.csv');
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('queued');
    const cancel = await request(small.app.server).post(`/api/v1/projects/${smallProject}/uploads/${res.body.id}/cancellation`).set('Authorization', `Bearer ${smallToken}`);
    expect(cancel.body).toMatchObject({ status: 'cancelled' });
    // the job finds it cancelled and does nothing
    await small.services().uploads.processNow(res.body.id, small.app.log);
    expect(await small.sql('select id from tasks')).toEqual([]);

    const running = await postUpload(small, smallToken, smallProject, 'name\nb\n', 'cancel2.csv');
    await small.sql(`update uploads set status = 'processing', cancel_requested = true where id = $1`, [running.body.id]);
    await small.services().uploads.processNow(running.body.id, small.app.log);
    const [row] = await small.sql<Record<string, any>>('select status from uploads where id = $1', [running.body.id]);
    expect(row.status).toBe('cancelled');
    const again = await request(small.app.server).post(`/api/v1/projects/${smallProject}/uploads/${running.body.id}/cancellation`).set('Authorization', `Bearer ${smallToken}`);
    expect(again.status).toBe(409);
  });

  it('processing twice never creates a task twice', async () => {
    const res = await postUpload(small, smallToken, smallProject, 'name\nonce-1\nonce-2\n', 'twice.csv');
    // two jobs for one upload (a retry racing a re-enqueue): the upload's lock makes them take turns
    await Promise.all([0, 1].map(() => small.services().uploads.processNow(res.body.id, small.app.log)));
    expect((await small.sql(`select name from tasks where upload_id = $1 order by name`, [res.body.id])).map((r) => r.name)).toEqual(['once-1', 'once-2']);
    const [row] = await small.sql<Record<string, any>>('select status, rows_processed, rows_succeeded from uploads where id = $1', [res.body.id]);
    expect(row).toMatchObject({ status: 'completed', rows_processed: 2, rows_succeeded: 2 });
  });
});
