import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, createUser, loggedIn, submitForm, type Agent, type TestApp } from './helpers/app.ts';

type StageRow = { id: string; name: string; kind: string; position: number; review_percent: number };

describe('projects: creation, access, settings, stages and schema', () => {
  let t: TestApp;
  let admin: IUser;
  let adminClient: Agent;
  let memberClient: Agent;
  let managerClient: Agent;
  let outsider: IUser;
  let outsiderClient: Agent;
  let projectId: number;

  const stagesOf = (id: number) => t.sql<StageRow>('select id, name, kind, position, review_percent from stages where project_id = $1 order by position', [id]);
  const projectRow = async (id: number) => (await t.sql<Record<string, unknown>>('select * from projects where id = $1', [id]))[0];
  /** A fresh project made by the admin, with a manager and a member. */
  async function newProject(name: string, reviewStages = 1): Promise<number> {
    const project = await t.services().projects.create(admin, { name, reviewStages });
    const services = t.services();
    const access = await services.projects.access(admin, project.id, 'admin');
    await services.members.add(access, 'member@example.org', { role: 'member', stageIds: [] });
    await services.members.add(access, 'manager@example.org', { role: 'manager', stageIds: [] });
    return project.id;
  }
  const validSettings = (stages: StageRow[], overrides: Record<string, string> = {}) => ({
    name: 'Street signs',
    slug: 'street-signs',
    description: 'Label every sign',
    instructionsUrl: 'https://example.org/guide',
    autoAssign: 'on',
    queueSize: '5',
    reservationMinutes: '90',
    autoArchiveAfterDays: '30',
    ...Object.fromEntries(stages.filter((s) => s.kind === 'review').map((s) => [`reviewPercent.${s.id}`, '40'])),
    ...overrides,
  });

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    await createUser(t, 'member@example.org');
    await createUser(t, 'manager@example.org');
    outsider = await createUser(t, 'outsider@example.org');
    adminClient = await loggedIn(t, 'admin@example.org');
    memberClient = await loggedIn(t, 'member@example.org');
    managerClient = await loggedIn(t, 'manager@example.org');
    outsiderClient = await loggedIn(t, 'outsider@example.org');
    projectId = await newProject('Access checks');
  });
  afterAll(() => t.close());

  it('creates a project from the form with Label → Review_1 → Ground Truth and the creator as admin', async () => {
    const res = await submitForm(adminClient, '/projects/new', '/projects', { name: 'Cats & Dogs', description: 'Pets', reviewStages: '1' });
    expect(res.status).toBe(303);
    const id = Number(/^\/projects\/(\d+)$/.exec(res.headers.location)?.[1]);
    expect(id).toBeGreaterThan(0);
    const stages = await stagesOf(id);
    expect(stages.map((s) => [s.name, s.kind, s.position])).toEqual([
      ['Label', 'label', 0],
      ['Review_1', 'review', 1],
      ['Ground Truth', 'ground_truth', 2],
    ]);
    const members = await t.sql<{ user_id: string; role: string }>('select user_id, role from project_members where project_id = $1', [id]);
    expect(members).toEqual([{ user_id: String(admin.id), role: 'admin' }]);
    expect((await projectRow(id)).slug).toBe('cats-dogs');
    const page = await adminClient.get(`/projects/${id}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Cats &amp; Dogs');
    expect(page.text).toContain(`href="/projects/${id}/settings"`);
  });

  it('hides settings, schema and members from members and managers (403 naming the role, no sidebar links)', async () => {
    for (const client of [memberClient, managerClient]) {
      const overview = await client.get(`/projects/${projectId}`);
      expect(overview.status).toBe(200);
      expect(overview.text).not.toContain(`/projects/${projectId}/settings`);
      for (const path of ['settings', 'schema', 'members']) {
        const res = await client.get(`/projects/${projectId}/${path}`);
        expect(res.status, `${path}`).toBe(403);
      }
    }
    expect((await adminClient.get(`/projects/${projectId}/settings`)).status).toBe(200);
  });

  it('refuses every settings, stage, schema and member POST from a member or manager with 403 and changes nothing', async () => {
    const stages = await stagesOf(projectId);
    const review = stages.find((s) => s.kind === 'review')!;
    const before = await projectRow(projectId);
    const membersBefore = await t.sql('select id, role from project_members where project_id = $1 order by id', [projectId]);
    const memberRow = membersBefore[0] as { id: string };
    for (const client of [memberClient, managerClient]) {
      const posts: Array<[string, Record<string, string>]> = [
        [`/projects/${projectId}/settings`, validSettings(stages, { name: 'Hijacked', slug: 'hijacked' })],
        [`/projects/${projectId}/stages`, {}],
        [`/projects/${projectId}/stages/${review.id}/deletion`, {}],
        [`/projects/${projectId}/schema`, { 'input[0][name]': 'image', 'input[0][type]': 'image_url' }],
        [`/projects/${projectId}/members`, { email: 'outsider@example.org', role: 'admin' }],
        [`/projects/${projectId}/members/${memberRow.id}`, { role: 'member' }],
        [`/projects/${projectId}/members/${memberRow.id}/deletion`, {}],
      ];
      for (const [action, fields] of posts) {
        const res = await submitForm(client, `/projects/${projectId}`, action, fields);
        expect(res.status, action).toBe(403);
      }
    }
    expect(await projectRow(projectId)).toEqual(before);
    expect(await stagesOf(projectId)).toEqual(stages);
    expect(await t.sql('select id, role from project_members where project_id = $1 order by id', [projectId])).toEqual(membersBefore);
  });

  it('answers 404 for every page and API call of a project the user is not in', async () => {
    for (const path of ['', '/settings', '/schema', '/members']) {
      expect((await outsiderClient.get(`/projects/${projectId}${path}`)).status, path).toBe(404);
    }
    const denied = await submitForm(outsiderClient, '/projects', `/projects/${projectId}/settings`, validSettings(await stagesOf(projectId), { name: 'Nope' }));
    expect(denied.status).toBe(404);
    expect((await projectRow(projectId)).name).toBe('Access checks');
    const projects = await outsiderClient.get('/projects');
    expect(projects.text).not.toContain('Access checks');

    const { token } = await t.services().apiTokens.create(outsider, 'x');
    const api = await outsiderClient.get(`/api/v1/projects/${projectId}`).set('Authorization', `Bearer ${token}`);
    expect(api.status).toBe(404);
    expect(api.body).toMatchObject({ error: 'not_found' });
    const stages = await outsiderClient.get(`/api/v1/projects/${projectId}/stages`).set('Authorization', `Bearer ${token}`);
    expect(stages.status).toBe(404);
    // the same token works for what the user may see
    const list = await outsiderClient.get('/api/v1/projects').set('Authorization', `Bearer ${token}`);
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([]);
    // and an unknown project looks exactly the same
    expect((await adminClient.get('/projects/999999/settings')).status).toBe(404);
  });

  it('re-renders invalid settings with field errors (422) and saves nothing', async () => {
    const id = await newProject('Invalid settings');
    const stages = await stagesOf(id);
    const review = stages.find((s) => s.kind === 'review')!;
    const before = await projectRow(id);
    const res = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/settings`, validSettings(stages, {
      name: '',
      slug: 'Not A Slug',
      instructionsUrl: 'javascript:alert(1)',
      queueSize: '0',
      reservationMinutes: 'soon',
      autoArchiveAfterDays: '5000',
      [`reviewPercent.${review.id}`]: '150',
    }));
    expect(res.status).toBe(422);
    expect(res.text).toContain('Nothing was saved');
    expect(res.text).toContain('Name is required');
    expect(res.text).toContain('Use lowercase letters, digits and single hyphens');
    expect(res.text).toContain('Enter an http:// or https:// address');
    expect(res.text).toContain('Enter a whole number from 1 to 50');
    expect(res.text).toContain('Enter a whole number of minutes from 1 to 525,600');
    expect(res.text).toContain('Leave empty for off, or enter a whole number of days from 1 to 3,650');
    expect(res.text).toContain('Review_1: enter a whole number from 0 to 100');
    // the submitted values are shown again
    expect(res.text).toContain('value="Not A Slug"');
    expect(res.text).toContain('value="javascript:alert(1)"');
    expect(await projectRow(id)).toEqual(before);
    expect(await stagesOf(id)).toEqual(stages);

    // only one field wrong: still nothing saved
    const one = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/settings`, validSettings(stages, { queueSize: '51' }));
    expect(one.status).toBe(422);
    expect(await projectRow(id)).toEqual(before);
  });

  it('refuses a slug another project uses with 422', async () => {
    const id = await newProject('Slug clash');
    const stages = await stagesOf(id);
    const res = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/settings`, validSettings(stages, { slug: 'access-checks' }));
    expect(res.status).toBe(422);
    expect(res.text).toContain('This slug is taken by another project');
    expect((await projectRow(id)).slug).toBe('slug-clash');
  });

  it('saves valid settings, with an empty archive period as off and 0 % disabling a review stage', async () => {
    const id = await newProject('Valid settings', 2);
    const stages = await stagesOf(id);
    const [r1, r2] = stages.filter((s) => s.kind === 'review');
    const res = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/settings`, validSettings(stages, { slug: 'valid-settings-2' }));
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/projects/${id}/settings`);
    expect(await projectRow(id)).toMatchObject({
      name: 'Street signs',
      slug: 'valid-settings-2',
      description: 'Label every sign',
      instructions_url: 'https://example.org/guide',
      auto_assign: true,
      queue_size: 5,
      reservation_minutes: 90,
      auto_archive_after_days: 30,
    });
    expect((await stagesOf(id)).filter((s) => s.kind === 'review').map((s) => s.review_percent)).toEqual([40, 40]);
    const page = await adminClient.get(`/projects/${id}/settings`);
    expect(page.text).toContain('Settings saved.');
    expect(page.text).toContain('value="valid-settings-2"');

    // unchecked checkbox = off, empty archive days = off, 0 % disables Review_2
    const second = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/settings`, {
      ...validSettings(stages, { slug: 'valid-settings-2', autoArchiveAfterDays: '', instructionsUrl: '', [`reviewPercent.${r2.id}`]: '0' }),
      autoAssign: '',
    });
    expect(second.status).toBe(303);
    expect(await projectRow(id)).toMatchObject({ auto_assign: false, auto_archive_after_days: null, instructions_url: null });
    expect((await stagesOf(id)).map((s) => [s.name, s.review_percent])).toEqual([
      ['Label', 100],
      ['Review_1', 40],
      ['Review_2', 0],
      ['Ground Truth', 100],
    ]);
    expect(r1.id).not.toBe(r2.id);
    const overview = await adminClient.get(`/projects/${id}`);
    expect(overview.text).toContain('disabled');
    expect(overview.text).toContain('Off — users get only what is assigned to them');
  });

  it('adds a review stage before Ground Truth and removes it again', async () => {
    const id = await newProject('Stages');
    const added = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/stages`, {});
    expect(added.status).toBe(303);
    expect(added.headers.location).toBe(`/projects/${id}/settings#stages`);
    let stages = await stagesOf(id);
    expect(stages.map((s) => [s.name, s.kind, s.position])).toEqual([
      ['Label', 'label', 0],
      ['Review_1', 'review', 1],
      ['Review_2', 'review', 2],
      ['Ground Truth', 'ground_truth', 3],
    ]);
    expect((await adminClient.get(`/projects/${id}/settings`)).text).toContain('Review_2 added before Ground Truth.');

    const review2 = stages.find((s) => s.name === 'Review_2')!;
    const removed = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/stages/${review2.id}/deletion`, {});
    expect(removed.status).toBe(303);
    stages = await stagesOf(id);
    expect(stages.map((s) => [s.name, s.position])).toEqual([['Label', 0], ['Review_1', 1], ['Ground Truth', 2]]);
    expect((await adminClient.get(`/projects/${id}/settings`)).text).toContain('Review_2 removed.');

    // Label and Ground Truth are not review stages; a stage of another project is not found
    const label = stages.find((s) => s.kind === 'label')!;
    expect((await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/stages/${label.id}/deletion`, {})).status).toBe(404);
    const other = (await stagesOf(projectId)).find((s) => s.kind === 'review')!;
    expect((await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/stages/${other.id}/deletion`, {})).status).toBe(404);
    expect(await stagesOf(projectId)).toHaveLength(3);
  });

  it('refuses to remove a review stage a task has been in', async () => {
    const id = await newProject('Used stage');
    const review = (await stagesOf(id)).find((s) => s.kind === 'review')!;
    await t.sql('insert into tasks (project_id, name, stage_id) values ($1, $2, $3)', [id, 'task-1', review.id]);
    const res = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/stages/${review.id}/deletion`, {});
    expect(res.status).toBe(303);
    const page = await adminClient.get(`/projects/${id}/settings`);
    expect(page.text).toContain('flash-error');
    expect(page.text).toContain('Review_1 cannot be removed because tasks have been in it');
    expect((await stagesOf(id)).map((s) => s.name)).toEqual(['Label', 'Review_1', 'Ground Truth']);
  });

  it('refuses to remove a review stage that is the only stage some member may work in', async () => {
    const id = await newProject('Limited member');
    const review = (await stagesOf(id)).find((s) => s.kind === 'review')!;
    const services = t.services();
    const access = await services.projects.access(admin, id, 'admin');
    await services.members.add(access, 'outsider@example.org', { role: 'member', stageIds: [Number(review.id)] });
    const res = await submitForm(adminClient, `/projects/${id}/settings`, `/projects/${id}/stages/${review.id}/deletion`, {});
    expect(res.status).toBe(303);
    expect((await adminClient.get(`/projects/${id}/settings`)).text).toContain('cannot be removed while members may work only in it');
    expect(await stagesOf(id)).toHaveLength(3);
  });

  describe('task schema editor', () => {
    let id: number;
    beforeAll(async () => {
      id = await newProject('Schema');
    });
    const schemaOf = async () => {
      const row = await projectRow(id);
      return { input: row.input_schema, output: row.output_schema };
    };

    it('shows the existing rows plus empty ones, and more on request', async () => {
      const page = await adminClient.get(`/projects/${id}/schema`);
      expect(page.status).toBe(200);
      expect(page.text.match(/name="input\[\d+\]\[name\]"/g)).toHaveLength(3);
      expect(page.text.match(/name="output\[\d+\]\[name\]"/g)).toHaveLength(3);
      expect(page.text).toContain(`href="/projects/${id}/schema?rows=8"`);
      const more = await adminClient.get(`/projects/${id}/schema?rows=8`);
      expect(more.text.match(/name="input\[\d+\]\[name\]"/g)).toHaveLength(8);
      expect((await adminClient.get(`/projects/${id}/schema?rows=500`)).status).toBe(422);
    });

    it('saves valid rows and ignores rows without a name', async () => {
      const res = await submitForm(adminClient, `/projects/${id}/schema`, `/projects/${id}/schema`, {
        'input[0][name]': 'image',
        'input[0][type]': 'image_url',
        'input[0][required]': 'on',
        'input[1][name]': '',
        'input[1][type]': 'json',
        'input[2][name]': ' caption ',
        'input[2][type]': 'text',
        'output[0][name]': 'label',
        'output[0][type]': 'choice',
        'output[0][options]': 'cat, dog , other,',
        'output[1][name]': 'tags',
        'output[1][type]': 'multi_choice',
        'output[1][options]': 'indoor,outdoor',
        'output[2][name]': 'confident',
        'output[2][type]': 'boolean',
        'output[2][options]': '',
        'output[3][name]': '',
        'output[3][type]': 'text',
      });
      expect(res.status).toBe(303);
      expect(res.headers.location).toBe(`/projects/${id}/schema`);
      expect(await schemaOf()).toEqual({
        input: [
          { name: 'image', type: 'image_url', required: true },
          { name: 'caption', type: 'text', required: false },
        ],
        output: [
          { name: 'label', type: 'choice', options: ['cat', 'dog', 'other'] },
          { name: 'tags', type: 'multi_choice', options: ['indoor', 'outdoor'] },
          { name: 'confident', type: 'boolean' },
        ],
      });
      const page = await adminClient.get(`/projects/${id}/schema`);
      expect(page.text).toContain('Task schema saved: 2 input and 3 output fields.');
      expect(page.text).toContain('value="cat, dog, other"');
      expect(page.text.match(/name="input\[\d+\]\[name\]"/g)).toHaveLength(5);
    });

    it('rejects duplicates, reserved names, bad names, unknown types and wrong options with 422, saving nothing', async () => {
      const before = await schemaOf();
      const res = await submitForm(adminClient, `/projects/${id}/schema`, `/projects/${id}/schema`, {
        'input[0][name]': 'image',
        'input[0][type]': 'image_url',
        'input[1][name]': 'Image',
        'input[1][type]': 'url',
        'input[2][name]': 'priority',
        'input[2][type]': 'integer',
        'input[3][name]': 'metadata.source',
        'input[3][type]': 'text',
        'input[4][name]': '1st',
        'input[4][type]': 'text',
        'input[5][name]': 'ok_field',
        'input[5][type]': 'blob',
        'output[0][name]': 'label',
        'output[0][type]': 'choice',
        'output[0][options]': ' , ',
        'output[1][name]': 'note',
        'output[1][type]': 'text',
        'output[1][options]': 'a,b',
        'output[2][name]': 'output_x',
        'output[2][type]': 'text',
        'output[3][name]': 'x'.repeat(65),
        'output[3][type]': 'text',
      });
      expect(res.status).toBe(422);
      expect(res.text).toContain('Nothing was saved');
      expect(res.text).toContain('Another field is already called “Image”');
      expect(res.text).toContain('“priority” is a reserved upload column');
      expect(res.text).toContain('Names starting with “metadata.” are reserved');
      expect(res.text).toContain('Use letters, digits and underscores, not starting with a digit');
      expect(res.text).toContain('Choose one of the listed types');
      expect(res.text).toContain('List the options, separated by commas');
      expect(res.text).toContain('Only choice and multi-choice fields have options');
      expect(res.text).toContain('Names starting with “output_” are reserved');
      expect(res.text).toContain('Use at most 64 characters');
      // the submitted rows are shown again, in place
      expect(res.text).toContain('name="input[3][name]" value="metadata.source"');
      expect(await schemaOf()).toEqual(before);

      const duplicateOutput = await submitForm(adminClient, `/projects/${id}/schema`, `/projects/${id}/schema`, {
        'output[0][name]': 'answer',
        'output[0][type]': 'text',
        'output[1][name]': 'answer',
        'output[1][type]': 'number',
      });
      expect(duplicateOutput.status).toBe(422);
      expect(duplicateOutput.text).toContain('Another field is already called “answer”');
      expect(await schemaOf()).toEqual(before);
    });

    it('escapes what it shows back', async () => {
      const res = await submitForm(adminClient, `/projects/${id}/schema`, `/projects/${id}/schema`, {
        'input[0][name]': '<script>alert(1)</script>',
        'input[0][type]': 'text',
      });
      expect(res.status).toBe(422);
      expect(res.text).not.toContain('<script>alert(1)</script>');
      expect(res.text).toContain('&lt;script&gt;');
    });
  });
});
