import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, createAdmin, createTestApp, createUser, submitForm, type TestApp } from './helpers/app.ts';
import { uploadAndWait } from './helpers/uploads.ts';

const PASSWORD = 'correct horse battery';

/** Setting up a project through /api/v1 only (issue 14 §7), under the pages' rules and roles. */
describe('project setup API', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};
  const ids: Record<string, number> = {};
  let projectId: number;
  const call = (method: 'get' | 'post' | 'patch' | 'put' | 'delete', path: string, as = 'ada') =>
    request(t.app.server)[method](`/api/v1${path}`).set('Authorization', `Bearer ${tokens[as]}`);
  const project = (path = '') => `/projects/${projectId}${path}`;
  const stages = async (id = projectId) =>
    t.sql<{ id: string; name: string; kind: string; position: number; review_percent: number }>('select id, name, kind, position, review_percent from stages where project_id = $1 order by position', [id]);
  const projectRow = async (id = projectId) => (await t.sql<Record<string, unknown>>('select * from projects where id = $1', [id]))[0];
  const memberRow = async (email: string, id = projectId) => (await t.sql<{ id: string; role: string; stages: string[] | null }>(
    `select m.id, m.role, (select array_agg(s.name order by s.position) from project_member_stages ms join stages s on s.id = ms.stage_id where ms.project_member_id = m.id) as stages
       from project_members m join users u on u.id = m.user_id where m.project_id = $1 and u.email = $2`, [id, email]))[0];

  beforeAll(async () => {
    t = await createTestApp();
    const ada = await createAdmin(t);
    tokens.ada = (await t.services().apiTokens.create(ada, 'setup')).token;
    projectId = (await t.services().projects.create(ada, { name: 'Fixture', reviewStages: 1 })).id;
    const access = await t.services().projects.access(ada, projectId, 'admin');
    // pat is a project admin without instance rights; max a manager; mia a member; out in no project
    for (const [name, role] of [['pat', 'admin'], ['max', 'manager'], ['mia', 'member'], ['out', null]] as const) {
      const user = await createUser(t, `${name}@example.org`, PASSWORD);
      ids[name] = user.id;
      if (role) await t.services().members.add(access, `${name}@example.org`, { role, stageIds: [] });
      tokens[name] = (await t.services().apiTokens.create(user, 'script')).token;
    }
  });
  afterAll(() => t.close());

  it('sets a project up from nothing: project, stages, schemas, user, member, webhook; a task uploaded is requested by the member', async () => {
    const created = await call('post', '/projects').send({ name: 'Street scenes', description: 'Cars and buses', reviewStages: 0 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'Street scenes', slug: 'street-scenes', description: 'Cars and buses', instructionsUrl: null, role: 'admin', inputSchema: [], outputSchema: [],
      settings: { autoAssign: true, queueSize: 1, reservationMinutes: 120, autoArchiveAfterDays: null },
    });
    const id = created.body.id as number;
    expect((await stages(id)).map((s) => s.name)).toEqual(['Label', 'Ground Truth']);
    const p = (path: string) => `/projects/${id}${path}`;

    const settings = await call('patch', p('')).send({ queueSize: 2, instructionsUrl: 'https://wiki.example.org/guide', autoArchiveAfterDays: 30, autoAssign: true });
    expect(settings.status).toBe(200);
    expect(settings.body.settings).toEqual({ autoAssign: true, queueSize: 2, reservationMinutes: 120, autoArchiveAfterDays: 30 });
    expect(await projectRow(id)).toMatchObject({ name: 'Street scenes', queue_size: 2, instructions_url: 'https://wiki.example.org/guide', auto_archive_after_days: 30 });

    const review = await call('post', p('/stages')).send({ reviewPercent: 40 });
    expect(review.status).toBe(201);
    expect(review.body).toMatchObject({ name: 'Review_1', kind: 'review', position: 1, reviewPercent: 40 });
    expect((await stages(id)).map((s) => [s.name, s.position, s.review_percent])).toEqual([['Label', 0, 100], ['Review_1', 1, 40], ['Ground Truth', 2, 100]]);

    const input = await call('put', p('/input-schema')).send({ fields: [{ name: 'image', type: 'image_url', required: true }, { name: ' note ', type: 'text' }] });
    expect(input.status).toBe(200);
    expect(input.body.fields).toEqual([{ name: 'image', type: 'image_url', required: true }, { name: 'note', type: 'text', required: false }]);
    const output = await call('put', p('/output-schema')).send({ fields: [{ name: 'vehicle', type: 'choice', options: ['car', ' bus '] }, { name: 'comment', type: 'text' }] });
    expect(output.status).toBe(200);
    expect(output.body.fields).toEqual([{ name: 'vehicle', type: 'choice', options: ['car', 'bus'] }, { name: 'comment', type: 'text' }]);
    expect(await projectRow(id)).toMatchObject({
      input_schema: [{ name: 'image', type: 'image_url', required: true }, { name: 'note', type: 'text', required: false }],
      output_schema: [{ name: 'vehicle', type: 'choice', options: ['car', 'bus'] }, { name: 'comment', type: 'text' }],
    });

    const user = await call('post', '/users').send({ name: 'Lena Labeler', email: 'Lena@Example.org', password: PASSWORD });
    expect(user.status).toBe(201);
    expect(user.body).toMatchObject({ user: { email: 'lena@example.org', name: 'Lena Labeler', isAdmin: false, active: true, hasPassword: true }, invite: null });

    const member = await call('post', p('/members')).send({ email: 'lena@example.org', role: 'member', stages: ['Label'] });
    expect(member.status).toBe(201);
    const labelId = Number((await stages(id))[0].id);
    expect(member.body).toMatchObject({ role: 'member', user: { id: user.body.user.id, email: 'lena@example.org' }, stages: [{ id: labelId, name: 'Label' }] });
    expect(await memberRow('lena@example.org', id)).toMatchObject({ role: 'member', stages: ['Label'] });

    const webhook = await call('patch', p('/webhook')).send({ url: 'https://hooks.example.org/tasklane', allowedHosts: ['Hooks.Example.org'] });
    expect(webhook.status).toBe(200);
    expect(webhook.body).toMatchObject({ url: 'https://hooks.example.org/tasklane', allowedHosts: ['hooks.example.org'], hasSecret: true, secret: expect.stringMatching(/^whsec_/) });
    expect((await projectRow(id)).webhook_secret).toBe(webhook.body.secret);
    const shown = await call('get', p('/webhook'));
    expect(shown.body).toEqual({ url: 'https://hooks.example.org/tasklane', allowedHosts: ['hooks.example.org'], hasSecret: true });

    // API tokens stay made in the web UI: Lena signs in and makes one there
    const lena = agent(t.app);
    expect((await submitForm(lena, '/login', '/login', { email: 'lena@example.org', password: PASSWORD })).status).toBe(303);
    const made = await submitForm(lena, '/account/tokens', '/account/tokens', { name: 'labeling' });
    expect(made.status).toBe(201);
    tokens.lena = /id="new-token">([^<]+)</.exec(made.text)![1];

    const upload = await uploadAndWait(t, tokens.ada, id, 'name,image,note\nscene-1,https://img.example.org/1.png,first\n', 'scenes.csv');
    expect(upload).toMatchObject({ status: 'completed', rows: { succeeded: 1, failed: 0 } });
    const next = await call('post', p('/stages/Label/next'), 'lena');
    expect(next.status).toBe(200);
    expect(next.body.items).toMatchObject([{ name: 'scene-1', stage: { id: labelId, name: 'Label' }, data: { image: 'https://img.example.org/1.png', note: 'first' } }]);
    // Lena may work in Label only
    expect((await call('post', p('/stages/Review_1/next'), 'lena')).status).toBe(403);
  });

  it('creating a project needs an instance admin (403 for everyone else), and the create form’s rules', async () => {
    for (const who of ['pat', 'mia', 'out']) {
      const res = await call('post', '/projects', who).send({ name: 'Nope' });
      expect(res.status, who).toBe(403);
      expect(res.body).toMatchObject({ error: 'forbidden', message: expect.stringContaining('instance admin') });
    }
    expect(await t.sql(`select 1 from projects where name = 'Nope'`)).toEqual([]);
    const blank = await call('post', '/projects').send({ name: '   ', reviewStages: 11 });
    expect(blank.status).toBe(422);
    expect(blank.body).toMatchObject({ error: 'validation_failed', details: { name: 'Name is required', reviewStages: 'Choose between 0 and 10 review stages' } });
    expect((await call('post', '/projects').send({ name: 42 })).status).toBe(422);
    expect((await call('post', '/projects').send({})).status).toBe(422);
    const twin = await call('post', '/projects').send({ name: 'Fixture' });
    expect(twin.status).toBe(201);
    expect(twin.body.slug).toBe('fixture-2');
    expect((await stages(twin.body.id)).map((s) => s.name)).toEqual(['Label', 'Review_1', 'Ground Truth']);
  });

  it('changes settings (project admins) with the settings page’s rules: slug, URL, ranges, null turns off', async () => {
    const other = (await call('post', '/projects').send({ name: 'Slug owner' })).body;
    const changed = await call('patch', project(''), 'pat').send({ slug: 'fixture-renamed', reservationMinutes: 30, autoArchiveAfterDays: 10 });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ slug: 'fixture-renamed', name: 'Fixture', settings: { reservationMinutes: 30, autoArchiveAfterDays: 10 } });
    const off = await call('patch', project('')).send({ autoArchiveAfterDays: null, instructionsUrl: null, autoAssign: false });
    expect(off.body).toMatchObject({ instructionsUrl: null, settings: { autoArchiveAfterDays: null, autoAssign: false, reservationMinutes: 30 } });
    expect(await projectRow()).toMatchObject({ slug: 'fixture-renamed', reservation_minutes: 30, auto_archive_after_days: null, auto_assign: false, instructions_url: null });
    // the settings page shows what the API saved
    const admin = agent(t.app);
    await submitForm(admin, '/login', '/login', { email: 'admin@example.org', password: PASSWORD });
    const page = (await admin.get(project('/settings'))).text;
    expect(page).toMatch(/name="slug"[^>]*value="fixture-renamed"/);
    expect(page).toMatch(/name="reservationMinutes"[^>]*value="30"/);

    const clash = await call('patch', project('')).send({ slug: other.slug });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ error: 'conflict', details: { slug: 'This slug is taken by another project' } });
    const bad = await call('patch', project('')).send({ instructionsUrl: 'ftp://files.example.org', queueSize: 0, name: '' });
    expect(bad.status).toBe(422);
    expect(Object.keys(bad.body.details).sort()).toEqual(['instructionsUrl', 'name', 'queueSize']);
    expect((await call('patch', project('')).send({ queueSize: '5' })).status).toBe(422);
    expect((await projectRow()).slug).toBe('fixture-renamed');

    for (const [who, status] of [['max', 403], ['mia', 403], ['out', 404]] as const) {
      const res = await call('patch', project(''), who).send({ queueSize: 9 });
      expect(res.status, who).toBe(status);
      if (status === 403) expect(res.body.message).toContain('needs the admin role');
    }
    expect((await call('patch', '/projects/999999').send({ queueSize: 9 })).status).toBe(404);
    expect((await projectRow()).queue_size).toBe(1);
  });

  it('adds, changes and removes review stages by name or id, under the page’s refusals and limits', async () => {
    const added = await call('post', project('/stages'), 'pat');
    expect(added.status, added.text).toBe(201);
    expect(added.body).toMatchObject({ name: 'Review_2', kind: 'review', reviewPercent: 100 });
    expect((await stages()).map((s) => s.name)).toEqual(['Label', 'Review_1', 'Review_2', 'Ground Truth']);

    const byName = await call('patch', project('/stages/Review_2')).send({ reviewPercent: 0 });
    expect(byName.status).toBe(200);
    expect(byName.body).toMatchObject({ id: added.body.id, name: 'Review_2', reviewPercent: 0 });
    const byId = await call('patch', project(`/stages/${added.body.id}`)).send({ reviewPercent: 25 });
    expect(byId.body.reviewPercent).toBe(25);
    expect((await stages()).find((s) => s.name === 'Review_2')!.review_percent).toBe(25);
    for (const body of [{ reviewPercent: 101 }, { reviewPercent: -1 }, { reviewPercent: 2.5 }, {}]) {
      expect((await call('patch', project('/stages/Review_2')).send(body)).status, JSON.stringify(body)).toBe(422);
    }
    expect((await call('patch', project('/stages/Label')).send({ reviewPercent: 50 })).status).toBe(404);
    expect((await call('patch', project('/stages/Review_9')).send({ reviewPercent: 50 })).status).toBe(404);

    // a member who may work only in Review_2 would silently gain every stage: refused
    const mia = await memberRow('mia@example.org');
    const only = await call('patch', project(`/members/${mia.id}`)).send({ stages: ['Review_2'] });
    expect(only.status).toBe(200);
    const locked = await call('delete', project('/stages/Review_2'));
    expect(locked.status).toBe(409);
    expect(locked.body.message).toContain('members may work only in it');
    await call('patch', project(`/members/${mia.id}`)).send({ stages: [] });

    // a stage tasks have been in stays (0 % disables it instead)
    const [review2] = (await stages()).filter((s) => s.name === 'Review_2');
    await t.sql(`insert into tasks (project_id, name, stage_id, data) values ($1, 'was-in-review-2', $2, '{}')`, [projectId, review2.id]);
    const used = await call('delete', project('/stages/Review_2'));
    expect(used.status).toBe(409);
    expect(used.body.message).toContain('tasks have been in it');
    await t.sql(`delete from tasks where name = 'was-in-review-2'`);

    const removed = await call('delete', project(`/stages/${review2.id}`));
    expect(removed.status).toBe(204);
    expect((await stages()).map((s) => [s.name, s.position])).toEqual([['Label', 0], ['Review_1', 1], ['Ground Truth', 2]]);
    expect((await call('delete', project('/stages/Label'))).status).toBe(404);
    expect((await call('delete', project('/stages/Review_2'))).status).toBe(404);

    // stage changes of one project run one at a time: calls at the same moment get distinct stages
    const together = await Promise.all([1, 2, 3].map(() => call('post', project('/stages'))));
    expect(together.map((r) => r.status)).toEqual([201, 201, 201]);
    expect(new Set(together.map((r) => r.body.name))).toEqual(new Set(['Review_2', 'Review_3', 'Review_4']));
    expect((await stages()).map((s) => s.position)).toEqual([0, 1, 2, 3, 4, 5]);
    for (let n = 0; n < 6; n++) expect((await call('post', project('/stages')).send({})).status).toBe(201);
    const eleventh = await call('post', project('/stages'));
    expect(eleventh.status).toBe(409);
    expect(eleventh.body.message).toContain('at most 10 review stages');
    for (const s of (await stages()).filter((s) => s.kind === 'review' && s.name !== 'Review_1')) {
      expect((await call('delete', project(`/stages/${s.name}`))).status).toBe(204);
    }

    for (const [who, status] of [['max', 403], ['mia', 403], ['out', 404]] as const) {
      expect((await call('post', project('/stages'), who)).status, who).toBe(status);
      expect((await call('patch', project('/stages/Review_1'), who).send({ reviewPercent: 5 })).status, who).toBe(status);
      expect((await call('delete', project('/stages/Review_1'), who)).status, who).toBe(status);
    }
    expect((await stages()).map((s) => [s.name, s.review_percent])).toEqual([['Label', 100], ['Review_1', 100], ['Ground Truth', 100]]);
  });

  it('sets the input and output schema with the schema page’s field rules, per field', async () => {
    const bad = await call('put', project('/input-schema')).send({ fields: [
      { name: 'priority', type: 'text' }, { name: 'pre_assign.x', type: 'text' }, { name: 'Photo', type: 'url' }, { name: 'photo', type: 'text' }, { name: '  ', type: 'text' }, { name: '9lives', type: 'text' },
    ] });
    expect(bad.status).toBe(422);
    expect(bad.body.details).toEqual({
      'fields.0.name': '“priority” is a reserved upload column',
      'fields.1.name': 'Names starting with “pre_assign.” are reserved for upload columns',
      'fields.3.name': 'Another field is already called “photo”',
      'fields.4.name': 'Enter a name',
      'fields.5.name': 'Use letters, digits and underscores, not starting with a digit',
    });
    expect((await call('put', project('/input-schema')).send({ fields: [{ name: 'a', type: 'video' }] })).status).toBe(422);
    expect((await projectRow()).input_schema).toEqual([]);

    const badOut = await call('put', project('/output-schema')).send({ fields: [
      { name: 'kind', type: 'choice' }, { name: 'note', type: 'text', options: ['x'] }, { name: 'tags', type: 'multi_choice', options: ['a', 'a'] }, { name: 'size', type: 'choice', options: ['small, medium'] },
    ] });
    expect(badOut.status).toBe(422);
    expect(badOut.body.details).toEqual({
      'fields.0.options': 'List the options, separated by commas',
      'fields.1.options': 'Only choice and multi-choice fields have options: leave this empty',
      'fields.2.options': 'Each option may appear only once',
      'fields.3.options': 'An option cannot contain a comma',
    });

    const input = await call('put', project('/input-schema'), 'pat').send({ fields: [{ name: 'photo', type: 'image_url', required: true }] });
    expect(input.status).toBe(200);
    const output = await call('put', project('/output-schema'), 'pat').send({ fields: [{ name: 'tags', type: 'multi_choice', options: ['a', 'b'] }, { name: 'ok', type: 'boolean' }] });
    expect(output.status).toBe(200);
    expect(await projectRow()).toMatchObject({
      input_schema: [{ name: 'photo', type: 'image_url', required: true }],
      output_schema: [{ name: 'tags', type: 'multi_choice', options: ['a', 'b'] }, { name: 'ok', type: 'boolean' }],
    });
    // the schema page shows what the API saved
    const admin = agent(t.app);
    await submitForm(admin, '/login', '/login', { email: 'admin@example.org', password: PASSWORD });
    const page = await admin.get(project('/schema'));
    expect(page.text).toContain('value="photo"');
    expect(page.text).toContain('value="a, b"');

    for (const [who, status] of [['max', 403], ['mia', 403], ['out', 404]] as const) {
      expect((await call('put', project('/input-schema'), who).send({ fields: [] })).status, who).toBe(status);
      expect((await call('put', project('/output-schema'), who).send({ fields: [] })).status, who).toBe(status);
    }
    expect((await projectRow()).input_schema).toHaveLength(1);
  });

  it('lists, adds, changes and removes members with the Members page’s rules', async () => {
    await createUser(t, 'nora@example.org', PASSWORD);
    const list = await call('get', project('/members'), 'pat');
    expect(list.status).toBe(200);
    expect(list.body.items.map((m: { user: { email: string }; role: string }) => [m.user.email, m.role])).toEqual([
      ['admin@example.org', 'admin'], ['max@example.org', 'manager'], ['mia@example.org', 'member'], ['pat@example.org', 'admin'],
    ]);

    const [label, review] = await stages();
    const added = await call('post', project('/members'), 'pat').send({ email: ' NORA@example.org ', role: 'manager', stages: [Number(review.id), 'Label'] });
    expect(added.status, added.text).toBe(201);
    expect(added.body).toMatchObject({ role: 'manager', user: { email: 'nora@example.org' }, stages: [{ id: Number(label.id), name: 'Label' }, { id: Number(review.id), name: 'Review_1' }] });
    expect(await memberRow('nora@example.org')).toMatchObject({ role: 'manager', stages: ['Label', 'Review_1'] });
    // the Members page shows what the API did
    const admin = agent(t.app);
    await submitForm(admin, '/login', '/login', { email: 'admin@example.org', password: PASSWORD });
    const page = (await admin.get(project('/members'))).text;
    const row = page.slice(page.indexOf('nora@example.org'), page.indexOf('</tr>', page.indexOf('nora@example.org')));
    expect(row).toContain('<option value="manager" selected>');
    expect(row).toContain('Label, Review_1');

    const again = await call('post', project('/members')).send({ email: 'nora@example.org', role: 'member' });
    expect(again.status).toBe(409);
    expect(again.body.details).toEqual({ email: 'This user is already a member' });
    const unknown = await call('post', project('/members')).send({ email: 'nobody@example.org', role: 'member' });
    expect(unknown.status).toBe(422);
    expect(unknown.body.details).toEqual({ email: 'No active user has this email' });
    const gt = await call('post', project('/members')).send({ email: 'out@example.org', role: 'member', stages: ['Ground Truth', 'Review_7'] });
    expect(gt.status).toBe(422);
    expect(gt.body.details.stages).toContain('“Ground Truth”, “Review_7”');
    expect((await call('post', project('/members')).send({ email: 'out@example.org', role: 'owner' })).status).toBe(422);
    expect(await memberRow('out@example.org')).toBeUndefined();

    const memberId = added.body.id;
    const changed = await call('patch', project(`/members/${memberId}`)).send({ role: 'member' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ role: 'member', stages: [{ name: 'Label' }, { name: 'Review_1' }] });
    const everywhere = await call('patch', project(`/members/${memberId}`)).send({ stages: [] });
    expect(everywhere.body).toMatchObject({ role: 'member', stages: [] });
    expect(await memberRow('nora@example.org')).toMatchObject({ role: 'member', stages: null });

    // a project admin cannot lock themselves out
    const pat = await memberRow('pat@example.org');
    const demote = await call('patch', project(`/members/${pat.id}`), 'pat').send({ role: 'manager' });
    expect(demote.status).toBe(409);
    expect(demote.body.message).toContain('You cannot change your own role');
    expect((await call('delete', project(`/members/${pat.id}`), 'pat')).status).toBe(409);
    expect((await memberRow('pat@example.org')).role).toBe('admin');

    expect((await call('delete', project(`/members/${memberId}`), 'pat')).status).toBe(204);
    expect(await memberRow('nora@example.org')).toBeUndefined();
    expect((await call('delete', project(`/members/${memberId}`))).status).toBe(404);
    expect((await call('patch', project('/members/999999')).send({ role: 'member' })).status).toBe(404);

    for (const [who, status] of [['max', 403], ['mia', 403], ['out', 404]] as const) {
      expect((await call('get', project('/members'), who)).status, who).toBe(status);
      expect((await call('post', project('/members'), who).send({ email: 'nora@example.org', role: 'admin' })).status, who).toBe(status);
      expect((await call('patch', project(`/members/${pat.id}`), who).send({ role: 'member' })).status, who).toBe(status);
      expect((await call('delete', project(`/members/${pat.id}`), who)).status, who).toBe(status);
    }
    expect(await memberRow('nora@example.org')).toBeUndefined();
  });

  it('configures the webhook: allow-list, instance-admin-only internal hosts, the secret shown once on rotation', async () => {
    expect((await call('get', project('/webhook'), 'pat')).body).toEqual({ url: null, allowedHosts: [], hasSecret: false });
    const early = await call('post', project('/webhook/secret-rotation'), 'pat');
    expect(early.status).toBe(409);

    const unlisted = await call('patch', project('/webhook'), 'pat').send({ url: 'https://hooks.example.org/x' });
    expect(unlisted.status).toBe(422);
    expect(unlisted.body.details).toEqual({ allowedHosts: 'hooks.example.org is not on the allow-list' });
    const internal = await call('patch', project('/webhook'), 'pat').send({ allowedHosts: ['10.0.0.5'] });
    expect(internal.status).toBe(422);
    expect(internal.body.details.allowedHosts).toContain('ask an instance admin');
    expect((await call('patch', project('/webhook'), 'pat').send({ url: 'ftp://hooks.example.org', allowedHosts: ['hooks.example.org'] })).status).toBe(422);

    const set = await call('patch', project('/webhook'), 'pat').send({ url: 'https://hooks.example.org/x', allowedHosts: ['hooks.example.org'] });
    expect(set.status).toBe(200);
    const first = set.body.secret as string;
    expect(first).toMatch(/^whsec_/);
    const hostsOnly = await call('patch', project('/webhook'), 'pat').send({ allowedHosts: ['hooks.example.org', 'backup.example.org'] });
    expect(hostsOnly.body).toEqual({ url: 'https://hooks.example.org/x', allowedHosts: ['hooks.example.org', 'backup.example.org'], hasSecret: true, secret: null });
    expect((await call('patch', project('/webhook')).send({ allowedHosts: ['10.0.0.5', 'hooks.example.org'] })).status).toBe(200);

    const rotated = await call('post', project('/webhook/secret-rotation'), 'pat');
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(first);
    expect((await projectRow()).webhook_secret).toBe(rotated.body.secret);
    const shown = await call('get', project('/webhook'), 'pat');
    expect(shown.body).toEqual({ url: 'https://hooks.example.org/x', allowedHosts: ['10.0.0.5', 'hooks.example.org'], hasSecret: true });

    const off = await call('patch', project('/webhook'), 'pat').send({ url: null });
    expect(off.body).toMatchObject({ url: null, secret: null });
    expect(await projectRow()).toMatchObject({ webhook_url: null, webhook_allowed_hosts: ['10.0.0.5', 'hooks.example.org'] });

    for (const [who, status] of [['max', 403], ['mia', 403], ['out', 404]] as const) {
      expect((await call('get', project('/webhook'), who)).status, who).toBe(status);
      expect((await call('patch', project('/webhook'), who).send({ url: null })).status, who).toBe(status);
      expect((await call('post', project('/webhook/secret-rotation'), who)).status, who).toBe(status);
    }
  });

  it('instance admins create, change, deactivate and reactivate users; everyone else gets 403', async () => {
    const invited = await call('post', '/users').send({ name: 'Ivy Invited', email: 'ivy@example.org', isAdmin: true });
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ user: { email: 'ivy@example.org', isAdmin: true, hasPassword: false }, invite: { url: null, path: expect.stringMatching(/^\/invite\/inv_/) } });
    expect(invited.body.user.inviteExpiresAt).toBe(invited.body.invite.expiresAt);
    expect((await agent(t.app).get(invited.body.invite.path)).status).toBe(200);

    const dup = await call('post', '/users').send({ name: 'Ivy Again', email: 'IVY@example.org', password: PASSWORD });
    expect(dup.status).toBe(409);
    expect(dup.body.details).toEqual({ email: 'A user with this email already exists' });
    // two calls at the same moment: one account, and a clear 409 for the other (never a 500)
    const racing = await Promise.all([1, 2].map((n) => call('post', '/users').send({ name: `Rae ${n}`, email: 'rae@example.org', password: PASSWORD })));
    expect(racing.map((r) => r.status).sort()).toEqual([201, 409]);
    const bad = await call('post', '/users').send({ name: '', email: 'not-an-email', password: 'short' });
    expect(bad.status).toBe(422);
    expect(Object.keys(bad.body.details).sort()).toEqual(['email', 'name', 'password']);

    const list = await call('get', '/users');
    expect(list.status).toBe(200);
    expect(list.body.items.map((u: { email: string }) => u.email)).toContain('ivy@example.org');

    // deactivating ends the user's sign-in and revokes their API tokens
    const userId = ids.mia;
    expect((await call('get', '/me', 'mia')).status).toBe(200);
    const off = await call('patch', `/users/${userId}`).send({ active: false, name: 'Mia M.' });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ id: userId, active: false, name: 'Mia M.' });
    expect((await call('get', '/me', 'mia')).status).toBe(401);
    expect((await submitForm(agent(t.app), '/login', '/login', { email: 'mia@example.org', password: PASSWORD })).status).toBe(401);
    const on = await call('patch', `/users/${userId}`).send({ active: true });
    expect(on.body).toMatchObject({ active: true, name: 'Mia M.' });
    expect((await submitForm(agent(t.app), '/login', '/login', { email: 'mia@example.org', password: PASSWORD })).status).toBe(303);
    expect((await call('get', `/users/${userId}`)).body).toMatchObject({ active: true, isAdmin: false });
    const promoted = await call('patch', `/users/${ids.pat}`).send({ isAdmin: true });
    expect(promoted.body.isAdmin).toBe(true);
    await call('patch', `/users/${ids.pat}`).send({ isAdmin: false });

    const [ada] = await t.sql<{ id: string }>(`select id from users where email = 'admin@example.org'`);
    const self = await call('patch', `/users/${ada.id}`).send({ active: false });
    expect(self.status).toBe(409);
    expect((await call('patch', `/users/${ada.id}`).send({ isAdmin: false })).status).toBe(409);
    expect((await call('patch', `/users/${ada.id}`).send({ name: '' })).status).toBe(422);
    expect(await t.sql(`select active, is_admin, name from users where id = $1`, [ada.id])).toEqual([{ active: true, is_admin: true, name: 'Ada Admin' }]);
    expect((await call('patch', '/users/999999').send({ active: false })).status).toBe(404);
    expect((await call('get', '/users/999999')).status).toBe(404);

    for (const who of ['pat', 'max', 'out']) {
      for (const res of [await call('get', '/users', who), await call('get', `/users/${userId}`, who),
        await call('post', '/users', who).send({ name: 'X', email: 'x@example.org', password: PASSWORD }), await call('patch', `/users/${userId}`, who).send({ active: false })]) {
        expect(res.status, who).toBe(403);
        expect(res.body.message).toContain('instance admin');
      }
    }
    expect(await t.sql(`select 1 from users where email = 'x@example.org'`)).toEqual([]);
    expect((await t.sql<{ active: boolean }>('select active from users where id = $1', [userId]))[0].active).toBe(true);
  });

  it('documents every call with an operationId and the statuses it answers', async () => {
    const doc = (await request(t.app.server).get('/api/docs/json')).body;
    const expected: Array<[string, string, string, string[]]> = [
      ['post', '/api/v1/projects', 'createProject', ['201', '401', '403', '422']],
      ['patch', '/api/v1/projects/{projectId}', 'updateProject', ['200', '401', '403', '404', '409', '422']],
      ['put', '/api/v1/projects/{projectId}/input-schema', 'setInputSchema', ['200', '401', '403', '404', '422']],
      ['put', '/api/v1/projects/{projectId}/output-schema', 'setOutputSchema', ['200', '401', '403', '404', '422']],
      ['post', '/api/v1/projects/{projectId}/stages', 'addStage', ['201', '401', '403', '404', '409', '422']],
      ['patch', '/api/v1/projects/{projectId}/stages/{stage}', 'updateStage', ['200', '401', '403', '404', '422']],
      ['delete', '/api/v1/projects/{projectId}/stages/{stage}', 'removeStage', ['204', '401', '403', '404', '409', '422']],
      ['get', '/api/v1/projects/{projectId}/members', 'listMembers', ['200', '401', '403', '404', '422']],
      ['post', '/api/v1/projects/{projectId}/members', 'addMember', ['201', '401', '403', '404', '409', '422']],
      ['patch', '/api/v1/projects/{projectId}/members/{memberId}', 'updateMember', ['200', '401', '403', '404', '409', '422']],
      ['delete', '/api/v1/projects/{projectId}/members/{memberId}', 'removeMember', ['204', '401', '403', '404', '409', '422']],
      ['get', '/api/v1/projects/{projectId}/webhook', 'getWebhook', ['200', '401', '403', '404', '422']],
      ['patch', '/api/v1/projects/{projectId}/webhook', 'updateWebhook', ['200', '401', '403', '404', '422']],
      ['post', '/api/v1/projects/{projectId}/webhook/secret-rotation', 'rotateWebhookSecret', ['200', '401', '403', '404', '409', '422']],
      ['get', '/api/v1/users', 'listUsers', ['200', '401', '403']],
      ['get', '/api/v1/users/{userId}', 'getUser', ['200', '401', '403', '404', '422']],
      ['post', '/api/v1/users', 'createUser', ['201', '401', '403', '409', '422']],
      ['patch', '/api/v1/users/{userId}', 'updateUser', ['200', '401', '403', '404', '409', '422']],
    ];
    for (const [method, path, operationId, statuses] of expected) {
      const op = doc.paths[path]?.[method];
      expect(op, `${method} ${path}`).toBeDefined();
      expect(op.operationId).toBe(operationId);
      expect(op.summary).toBeTruthy();
      // 400, 413 and 415 (the body's JSON, size and media type) are documented for every route that may take a body (swagger.ts)
      const all = method === 'get' ? statuses : [...statuses, '400', '413', '415'];
      expect(Object.keys(op.responses).sort(), operationId).toEqual(all.sort());
    }
  });
});
