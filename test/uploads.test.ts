import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, createUser, type TestApp } from './helpers/app.ts';
import { uploadAndWait, uploadErrors } from './helpers/uploads.ts';

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
    const events = await t.sql<Record<string, any>>(`select * from task_events where task_id = any($1::bigint[]) and kind = 'created'`, [tasks.map((x) => x.id)]);
    expect(events).toHaveLength(4);
    expect(events[0]).toMatchObject({ actor_id: String(admin.id), after: { uploadId: upload.id } });
    expect(await uploadErrors(t, token, projectId, upload.id)).toEqual([]);
  });
});
