import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { createAdmin, createTestApp, csrfFrom, loggedIn, type Agent, type TestApp } from './helpers/app.ts';
import { uploadAndWait } from './helpers/uploads.ts';
import { csvSafe, csvUnescape } from '../src/lib/csv-cells.ts';
import type { IUser } from '../src/modules/users/user.entity.ts';

const RISKY = ['=1+1', '+cmd', '-2+3', '@SUM(A1)', '\tlead-tab', '\rlead-cr', "'=already", "''+twice", 'plain'];

/** Every CSV Tasklane writes is safe in a spreadsheet, and an archive download still uploads as the same tasks. */
describe('formula cells in CSV downloads', () => {
  let t: TestApp;
  let admin: IUser;
  let client: Agent;
  let token: string;
  let projectId: number;

  const schema = async (id: number) => {
    const s = t.services();
    const access = await s.projects.access(admin, id, 'admin');
    await s.projects.updateSchemas(access, [{ name: 'caption', type: 'text', required: false }], []);
  };

  beforeAll(async () => {
    t = await createTestApp();
    admin = await createAdmin(t);
    client = await loggedIn(t, 'admin@example.org');
    token = (await t.services().apiTokens.create(admin, 'script')).token;
    projectId = (await t.services().projects.create(admin, { name: 'Formulas', reviewStages: 0 })).id;
    await schema(projectId);
  });
  afterAll(() => t.close());

  it('escapes and reads back every risky value', () => {
    for (const value of RISKY) expect(csvUnescape(csvSafe(value))).toBe(value);
    expect(csvSafe('=1+1')).toBe("'=1+1");
    expect(csvSafe('plain')).toBe('plain');
  });

  it('an archive download neutralises formulas and uploads into an empty project as exactly the same values', async () => {
    const label = (await t.sql<{ id: string }>(`select id from stages where project_id = $1 and kind = 'label'`, [projectId]))[0].id;
    for (const [i, value] of RISKY.entries()) {
      await t.sql(`insert into tasks (project_id, name, stage_id, data, metadata, client_batch_id, priority) values ($1, $2, $3, $4, $5, $6, $7)`,
        [projectId, `${value}#${i}`, label, JSON.stringify({ caption: value }), JSON.stringify({ note: value }), value, -i]);
    }
    const ids = (await t.sql<{ id: string }>('select id from tasks where project_id = $1', [projectId])).map((r) => r.id);
    const page = await client.get(`/projects/${projectId}/tasks`);
    const params = new URLSearchParams({ _csrf: csrfFrom(page.text), action: 'archive', note: 'formulas' });
    for (const id of ids) params.append('ids', id);
    expect((await client.post(`/projects/${projectId}/tasks/bulk`).type('form').send(params.toString())).status).toBeLessThan(400);
    const [archive] = await t.sql<{ id: string }>('select id from archives where project_id = $1', [projectId]);

    const file = (await client.get(`/projects/${projectId}/archives/${archive.id}/download?format=csv`)).text;
    const cells: string[][] = parse(file, { relax_column_count: true });
    const header = cells[0];

    const priorityColumn = header.indexOf('priority');
    for (const row of cells.slice(1)) {
      row.forEach((cell, column) => {
        if (column === priorityColumn) expect(cell).toMatch(/^-?\d+$/); // numbers stay numbers
        else expect(cell, `${header[column]}: ${JSON.stringify(cell)}`).not.toMatch(/^[=+\-@\t\r]/);
      });
    }

    const target = (await t.services().projects.create(admin, { name: 'Formulas again', reviewStages: 0 })).id;
    await schema(target);
    const upload = await uploadAndWait(t, token, target, Buffer.from(file), 'archive.csv');
    expect(upload.status, JSON.stringify(upload)).toBe('completed');
    const columns = 'name, data, metadata, client_batch_id, priority';
    const original = await t.sql(`select ${columns} from tasks where archive_id = $1 order by name`, [archive.id]);
    const copied = await t.sql(`select ${columns} from tasks where project_id = $1 order by name`, [target]);
    expect(copied).toHaveLength(RISKY.length);
    expect(copied).toEqual(original);
  });

  it('a failed-rows download neutralises formulas too', async () => {
    const csv = 'name,caption,priority\n=HYPERLINK("x"),@cmd,not-a-number\n';
    const upload = await uploadAndWait(t, token, projectId, csv, 'bad.csv');
    expect(upload.rows.failed).toBe(1);
    const file = (await client.get(`/projects/${projectId}/uploads/${upload.id}/failed-rows`)).text;
    const [header, row] = parse(file) as string[][];
    expect(header).toEqual(['name', 'caption', 'priority', 'error']);
    expect(row[0]).toBe("'=HYPERLINK(\"x\")");
    expect(row[1]).toBe("'@cmd");
    for (const cell of row) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
  });
});
