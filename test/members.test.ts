import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IUser } from '../src/modules/users/user.entity.ts';
import { createAdmin, createTestApp, createUser, loggedIn, submitForm, type Agent, type TestApp } from './helpers/app.ts';

type MemberRow = { id: string; user_id: string; role: string };

describe('project members', () => {
  let t: TestApp;
  let admin: IUser;
  let adminClient: Agent;
  let projectId: number;
  let stages: Record<string, number>;
  let otherProjectStage: number;

  const membersPage = () => `/projects/${projectId}/members`;
  const membersOf = (id: number) => t.sql<MemberRow>('select id, user_id, role from project_members where project_id = $1 order by id', [id]);
  const memberOf = async (email: string) =>
    (await t.sql<MemberRow>('select m.id, m.user_id, m.role from project_members m join users u on u.id = m.user_id where m.project_id = $1 and u.email = $2', [projectId, email]))[0];
  const stageNamesOf = async (memberId: string) =>
    (await t.sql<{ name: string }>('select s.name from project_member_stages ms join stages s on s.id = ms.stage_id where ms.project_member_id = $1 order by s.position', [memberId])).map((r) => r.name);

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    for (const email of ['lena@example.org', 'rui@example.org', 'mo@example.org', 'padmin@example.org']) await createUser(t, email);
    const gone = await createUser(t, 'gone@example.org');
    await t.sql('update users set active = false where id = $1', [gone.id]);
    adminClient = await loggedIn(t, 'admin@example.org');
    projectId = (await t.services().projects.create(admin, { name: 'Birds', reviewStages: 2 })).id;
    const rows = await t.sql<{ id: string; name: string }>('select id, name from stages where project_id = $1', [projectId]);
    stages = Object.fromEntries(rows.map((r) => [r.name, Number(r.id)]));
    const other = await t.services().projects.create(admin, { name: 'Other', reviewStages: 1 });
    otherProjectStage = Number((await t.sql<{ id: string }>(`select id from stages where project_id = $1 and name = 'Label'`, [other.id]))[0].id);
  });
  afterAll(() => t.close());

  it('lists members and offers only active non-members as candidates', async () => {
    const page = await adminClient.get(membersPage());
    expect(page.status).toBe(200);
    expect(page.text).toContain('admin@example.org');
    expect(page.text).toContain('All stages');
    expect(page.text).toContain('<option value="lena@example.org"');
    expect(page.text).not.toContain('<option value="admin@example.org"');
    expect(page.text).not.toContain('gone@example.org');
    // stage access offers the working stages, not Ground Truth
    expect(page.text).toContain(`value="${stages.Review_2}"`);
    expect(page.text).not.toContain(`value="${stages['Ground Truth']}"`);
  });

  it('adds members with a role and stage access', async () => {
    const res = await submitForm(adminClient, membersPage(), membersPage(), { email: 'Lena@Example.org', role: 'member', stageIds: [String(stages.Label), String(stages.Review_1)] });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(membersPage());
    const lena = await memberOf('lena@example.org');
    expect(lena.role).toBe('member');
    expect(await stageNamesOf(lena.id)).toEqual(['Label', 'Review_1']);
    const afterAdd = await adminClient.get(membersPage());
    expect(afterAdd.text).toContain('lena added as member.');
    expect(afterAdd.text).toContain('Label, Review_1');

    const single = await submitForm(adminClient, membersPage(), membersPage(), { email: 'rui@example.org', role: 'manager', stageIds: String(stages.Review_2) });
    expect(single.status).toBe(303);
    const rui = await memberOf('rui@example.org');
    expect(rui.role).toBe('manager');
    expect(await stageNamesOf(rui.id)).toEqual(['Review_2']);

    const page = await adminClient.get(membersPage());
    expect(page.text).toContain('rui added as manager.');
    expect(page.text).not.toContain('<option value="lena@example.org"');

    // the new member sees the project; the manager too, but not its members page
    const lenaClient = await loggedIn(t, 'lena@example.org');
    expect((await lenaClient.get(`/projects/${projectId}`)).status).toBe(200);
    const ruiClient = await loggedIn(t, 'rui@example.org');
    expect((await ruiClient.get(`/projects/${projectId}`)).status).toBe(200);
    expect((await ruiClient.get(membersPage())).status).toBe(403);
  });

  it('re-renders the form with 422 for an unknown or inactive email, an existing member, or a bad role, adding nobody', async () => {
    const before = await membersOf(projectId);
    const unknown = await submitForm(adminClient, membersPage(), membersPage(), { email: 'nobody@example.org', role: 'member' });
    expect(unknown.status).toBe(422);
    expect(unknown.text).toContain('No active user has this email');
    expect(unknown.text).toContain('<option value="nobody@example.org" selected>');

    const inactive = await submitForm(adminClient, membersPage(), membersPage(), { email: 'gone@example.org', role: 'member' });
    expect(inactive.status).toBe(422);
    expect(inactive.text).toContain('No active user has this email');

    const again = await submitForm(adminClient, membersPage(), membersPage(), { email: 'lena@example.org', role: 'admin' });
    expect(again.status).toBe(422);
    expect(again.text).toContain('This user is already a member');

    const badRole = await submitForm(adminClient, membersPage(), membersPage(), { email: 'mo@example.org', role: 'owner' });
    expect(badRole.status).toBe(422);
    expect(badRole.text).toContain('Choose a role');

    const noUser = await submitForm(adminClient, membersPage(), membersPage(), { email: '', role: 'member' });
    expect(noUser.status).toBe(422);
    expect(noUser.text).toContain('Choose a user');

    const foreignStage = await submitForm(adminClient, membersPage(), membersPage(), { email: 'mo@example.org', role: 'member', stageIds: String(otherProjectStage) });
    expect(foreignStage.status).toBe(422);
    expect(foreignStage.text).toContain('Unknown stage');

    const groundTruth = await submitForm(adminClient, membersPage(), membersPage(), { email: 'mo@example.org', role: 'member', stageIds: String(stages['Ground Truth']) });
    expect(groundTruth.status).toBe(422);
    expect(await membersOf(projectId)).toEqual(before);
  });

  it('updates role and stage access; no stage ticked means all stages', async () => {
    const lena = await memberOf('lena@example.org');
    const res = await submitForm(adminClient, membersPage(), `${membersPage()}/${lena.id}`, { role: 'manager', stageIds: String(stages.Review_2) });
    expect(res.status).toBe(303);
    expect((await memberOf('lena@example.org')).role).toBe('manager');
    expect(await stageNamesOf(lena.id)).toEqual(['Review_2']);
    expect((await adminClient.get(membersPage())).text).toContain('lena updated.');

    const all = await submitForm(adminClient, membersPage(), `${membersPage()}/${lena.id}`, { role: 'member' });
    expect(all.status).toBe(303);
    expect((await memberOf('lena@example.org')).role).toBe('member');
    expect(await stageNamesOf(lena.id)).toEqual([]);

    // a stage of another project is refused and nothing changes
    const foreign = await submitForm(adminClient, membersPage(), `${membersPage()}/${lena.id}`, { role: 'admin', stageIds: String(otherProjectStage) });
    expect(foreign.status).toBe(303);
    expect((await adminClient.get(membersPage())).text).toContain('Unknown stage');
    expect((await memberOf('lena@example.org')).role).toBe('member');

    // a member of another project cannot be reached through this one
    const otherId = Number((await t.sql<{ id: string }>(`select id from projects where name = 'Other'`))[0].id);
    const otherMember = (await membersOf(otherId))[0];
    expect((await submitForm(adminClient, membersPage(), `${membersPage()}/${otherMember.id}`, { role: 'member' })).status).toBe(404);
    expect((await submitForm(adminClient, membersPage(), `${membersPage()}/${otherMember.id}/deletion`, {})).status).toBe(404);
    expect((await membersOf(otherId))[0]).toEqual(otherMember);
  });

  it('removes a member, who then gets 404 for the project', async () => {
    const rui = await memberOf('rui@example.org');
    const ruiClient = await loggedIn(t, 'rui@example.org');
    const res = await submitForm(adminClient, membersPage(), `${membersPage()}/${rui.id}/deletion`, {});
    expect(res.status).toBe(303);
    expect(await memberOf('rui@example.org')).toBeUndefined();
    expect((await adminClient.get(membersPage())).text).toContain('rui removed from the project.');
    expect((await ruiClient.get(`/projects/${projectId}`)).status).toBe(404);
  });

  it('lets a project admin manage members but not lock themselves out', async () => {
    await submitForm(adminClient, membersPage(), membersPage(), { email: 'padmin@example.org', role: 'admin' });
    const padmin = await memberOf('padmin@example.org');
    expect(padmin.role).toBe('admin');
    const client = await loggedIn(t, 'padmin@example.org');
    expect((await client.get(membersPage())).status).toBe(200);

    const add = await submitForm(client, membersPage(), membersPage(), { email: 'mo@example.org', role: 'member' });
    expect(add.status).toBe(303);
    expect((await memberOf('mo@example.org')).role).toBe('member');

    const demote = await submitForm(client, membersPage(), `${membersPage()}/${padmin.id}`, { role: 'member' });
    expect(demote.status).toBe(303);
    expect((await client.get(membersPage())).text).toContain('You cannot change your own role');
    const leave = await submitForm(client, membersPage(), `${membersPage()}/${padmin.id}/deletion`, {});
    expect(leave.status).toBe(303);
    expect((await memberOf('padmin@example.org')).role).toBe('admin');
  });
});
