import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTaskFilter, SORT_KEYS, type SortKey } from '../src/modules/selection/task-filter.ts';
import { COUNT_CAP, ORDER, SMALL_VIEW, type TaskListScope } from '../src/modules/tasks/task-list.repository.ts';
import { createAdmin, createTestApp, createUser, type TestApp } from './helpers/app.ts';

/**
 * The list's SQL is shaped for speed at 1M tasks (one statement for small views, ids-first pages,
 * "batch contains" through the distinct batch IDs). These tests hold it to the plain reading of
 * the filter: the same rows, in the same order, with the same totals and page clamping, on both
 * sides of SMALL_VIEW and of COUNT_CAP.
 */
describe('task list queries', () => {
  let t: TestApp;
  let scope: TaskListScope;
  let memberScope: TaskListScope;
  const N = 10_300; // above COUNT_CAP

  beforeAll(async () => {
    t = await createTestApp();
    const admin = await createAdmin(t);
    const lee = await createUser(t, 'lee@example.org');
    const ana = await createUser(t, 'ana@example.org');
    const project = await t.services().projects.create(admin, { name: 'Queries', reviewStages: 1 });
    const stages = await t.sql<{ id: string }>('select id from stages where project_id = $1 order by position', [project.id]);
    // batches: "Alpha_1%" (odd chars), "alpha-2", "beta-10" ... "beta-19", none; ties in dates and priorities
    await t.sql(
      `insert into tasks (project_id, name, stage_id, state, priority, priority_score, client_batch_id, created_at, last_submitted_at,
                          assignee_id, assignment_status, assignment_kind, archive_id)
       select $1, format('item-%s', lpad(n::text, 5, '0')), ($2::bigint[])[1 + n % 3],
              (array['new','in_progress','completed','rejected'])[1 + n % 4], (n % 7) - 3,
              case when n % 3 = 0 then null else (n % 1000) / 1000.0 end,
              case when n % 11 = 0 then null when n % 5 = 0 then 'Alpha_1%' when n % 5 = 1 then 'alpha-2' else format('beta-%s', 10 + n % 10) end,
              timestamptz '2026-01-01' + (n / 3) * interval '1 minute',
              case when n % 4 > 0 then timestamptz '2026-03-01' + (n % 500) * interval '1 hour' end,
              case when n % 9 = 0 then $3::bigint when n % 9 = 1 then $4::bigint end,
              case when n % 9 in (0, 1) then 'assigned' end, case when n % 9 in (0, 1) then 'manual' end, null
       from generate_series(1, $5) n`,
      [project.id, stages.map((s) => s.id), lee.id, ana.id, N],
    );
    scope = { projectId: project.id, viewerId: admin.id, onlyAssignedToViewer: false };
    memberScope = { projectId: project.id, viewerId: lee.id, onlyAssignedToViewer: true };
    await t.sql('analyze tasks');
  });
  afterAll(() => t.close());

  /** The plain reading: every matching id in order (the filter written out by hand per case). */
  async function reference(where: string, params: unknown[], sort: string, dir: string, viewer?: number): Promise<number[]> {
    const rows = await t.sql<{ id: string }>(
      `select t.id from tasks t join stages s on s.id = t.stage_id left join users u on u.id = t.assignee_id
       where t.project_id = $1 and t.archive_id is null ${viewer ? `and t.assignee_id = ${viewer}` : ''} ${where ? `and ${where}` : ''}
       order by ${ORDER[sort as SortKey].replaceAll('%d', dir)}`,
      [scope.projectId, ...params],
    );
    return rows.map((r) => Number(r.id));
  }

  const cases: [string, string, unknown[]][] = [
    ['', '', []],
    ['state=completed', `t.state = 'completed'`, []],
    ['batch=alpha', 't.client_batch_id ilike $2', ['%alpha%']],
    ['batch=A_1%25', 't.client_batch_id ilike $2', ['%a\\_1\\%%']],
    ['batch=1', 't.client_batch_id ilike $2', ['%1%']],
    ['batch=zzz', 'false', []],
    ['batch=alpha-2&batch_match=exact', `t.client_batch_id = 'alpha-2'`, []],
    ['batch=beta-1&state=new', `t.client_batch_id ilike '%beta-1%' and t.state = 'new'`, []],
    ['q=item-001', `t.name ilike '%item-001%'`, []],
    ['q=item-0001', `t.name ilike '%item-0001%'`, []],
    ['q=ITEM-00012', `t.name ilike '%item-00012%'`, []],
    ['q=tem-1002', `t.name ilike '%tem-1002%'`, []],
    ['q=em-100_', 't.name ilike $2', ['%em-100\\_%']],
    ['q=x-00012', `t.name ilike '%x-00012%'`, []],
    ['q=77', `(t.id = 77 or t.name ilike '%77%')`, []],
    ['pmin=-1&pmax=1', 't.priority between -1 and 1', []],
    ['assignee=none&pmin=3', 't.assignee_id is null and t.priority >= 3', []],
  ];

  it.each(cases)('%s: same rows, order, totals and clamping as the plain query, for every sort', async (query, where, params) => {
    const services = t.services();
    for (const sort of SORT_KEYS) {
      for (const dir of ['asc', 'desc']) {
        const all = await reference(where, params, sort, dir);
        const size = 50;
        const lastPage = Math.max(1, Math.ceil(Math.min(all.length, COUNT_CAP) / size));
        for (const page of [1, 2, Math.min(lastPage, 7), lastPage + 3]) {
          const { filter, errors } = parseTaskFilter({ ...Object.fromEntries(new URLSearchParams(query)), sort, dir, page: String(page), size: String(size) });
          expect(errors).toEqual({});
          const result = await services.taskList.page(scope, filter);
          expect(result.capped).toBe(all.length > COUNT_CAP);
          expect(result.total).toBe(Math.min(all.length, COUNT_CAP));
          const shown = result.capped ? page : Math.min(page, lastPage);
          expect(result.page).toBe(shown);
          // a search for a task ID shows that task first on page 1 (the rest keep their order)
          const exact = /^q=(\d+)$/.exec(query) ? Number(query.slice(2)) : null;
          const expected = shown === 1 && exact !== null && all.includes(exact)
            ? [exact, ...all.filter((id) => id !== exact)].slice(0, size)
            : all.slice((shown - 1) * size, shown * size);
          expect(result.rows.map((r) => r.id), `${query} sort=${sort} ${dir} page=${page}`).toEqual(expected);
        }
      }
    }
  });

  it('covers both query paths: views above and below SMALL_VIEW, and above the cap', async () => {
    expect((await reference('', [], 'id', 'asc')).length).toBeGreaterThan(COUNT_CAP);
    const small = await reference(`t.state = 'completed' and t.client_batch_id = 'alpha-2'`, [], 'id', 'asc');
    expect(small.length).toBeGreaterThan(50);
    expect(small.length).toBeLessThanOrEqual(SMALL_VIEW);
    const middle = await reference(`t.client_batch_id ilike '%alpha%'`, [], 'id', 'asc');
    expect(middle.length).toBeGreaterThan(SMALL_VIEW);
    expect(middle.length).toBeLessThan(COUNT_CAP);
  });

  it('gives a member only their own tasks, on both paths', async () => {
    const services = t.services();
    for (const query of ['', 'state=new', 'batch=beta']) {
      const { filter } = parseTaskFilter({ ...Object.fromEntries(new URLSearchParams(query)), size: '200', page: '3' });
      const where = query === 'state=new' ? `t.state = 'new'` : query === 'batch=beta' ? `t.client_batch_id ilike '%beta%'` : '';
      const all = await reference(where, [], 'submitted', 'desc', memberScope.viewerId);
      const result = await services.taskList.page(memberScope, filter);
      expect(result.total).toBe(all.length);
      const page = Math.min(3, Math.max(1, Math.ceil(all.length / 200)));
      expect(result.page).toBe(page);
      expect(result.rows.map((r) => r.id)).toEqual(all.slice((page - 1) * 200, page * 200));
    }
  });

  it('leaves archived tasks and other projects out of "batch contains"', async () => {
    const [{ id: archiveId }] = await t.sql<{ id: string }>(`insert into archives (project_id) values ($1) returning id`, [scope.projectId]);
    await t.sql(`update tasks set client_batch_id = 'gamma-archived', archive_id = $2 where project_id = $1 and name = 'item-00001'`, [scope.projectId, archiveId]);
    const { filter } = parseTaskFilter({ batch: 'gamma' });
    const result = await t.services().taskList.page(scope, filter);
    expect(result.total).toBe(0);
  });
});
