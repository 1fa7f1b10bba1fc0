import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdmin, createTestApp, type TestApp } from './helpers/app.ts';
import { uploadAndWait, uploadErrors } from './helpers/uploads.ts';

const deep = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;

/** One bad row is rejected with a clear error; the file's other rows still land (issue 11, item 7). */
describe('uploads with rows PostgreSQL or JSON cannot hold', () => {
  let t: TestApp;
  let token: string;
  let projectId: number;

  beforeAll(async () => {
    t = await createTestApp({ LOG_LEVEL: process.env.DEBUG_LOG ?? 'silent' });
    const admin = await createAdmin(t);
    projectId = (await t.services().projects.create(admin, { name: 'Scenes', reviewStages: 0 })).id;
    await t.sql(`update projects set input_schema = $2, output_schema = $3 where id = $1`, [
      projectId, JSON.stringify([{ name: 'caption', type: 'text', required: false }, { name: 'box', type: 'json', required: false }]),
      JSON.stringify([{ name: 'shape', type: 'json' }]),
    ]);
    token = (await t.services().apiTokens.create(admin, 'script')).token;
  });
  afterAll(() => t.close());

  const names = async (prefix: string) =>
    (await t.sql<{ name: string }>(`select name from tasks where project_id = $1 and name like $2 order by name`, [projectId, `${prefix}%`])).map((r) => r.name);

  it('JSON Lines: a value nested 10,000 deep (input, metadata) and a NUL are row errors', async () => {
    const lines = [
      { name: 'j-good-1', caption: 'fine' },
      `{"name":"j-deep-input","box":${deep(10_000)}}`,
      `{"name":"j-deep-meta","metadata":{"camera":${deep(10_000)}}}`,
      { name: 'j-nul', caption: 'a\u0000b' },
      `{"name":"j-nul-escape","box":{"k":"x\\u0000y"}}`,
      { name: 'j-ok-depth', box: JSON.parse(deep(60)) },
      { name: 'j-good-2', caption: 'also fine' },
    ].map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
    const upload = await uploadAndWait(t, token, projectId, lines, 'rows.jsonl');
    expect(upload.status).toBe('completed_with_errors');
    expect(upload.rows).toEqual({ processed: 7, succeeded: 3, failed: 4 });
    expect(await names('j-')).toEqual(['j-good-1', 'j-good-2', 'j-ok-depth']);
    const errors = await uploadErrors(t, token, projectId, upload.id);
    expect(errors.map((e) => [e.row, e.message])).toEqual([
      [2, expect.stringContaining('deeper than 64 levels')],
      [3, expect.stringContaining('deeper than 64 levels')],
      [4, expect.stringContaining('NUL character')],
      [5, expect.stringContaining('NUL character')],
    ]);
  });

  it('a JSON array file with such rows keeps its good rows', async () => {
    const file = `[{"name":"a-good","caption":"ok"},{"name":"a-deep","box":${deep(10_000)}},{"name":"a-nul","caption":"\\u0000"}]`;
    const upload = await uploadAndWait(t, token, projectId, file, 'rows.json');
    expect(upload.rows).toEqual({ processed: 3, succeeded: 1, failed: 2 });
    expect(await names('a-')).toEqual(['a-good']);
  });

  // (a raw NUL byte makes a file binary: that fails the whole file as "not text", by design)
  it('CSV: deep JSON text and a \\u0000 escape in a JSON cell are row errors', async () => {
    const csv = [
      'name,caption,box,output_shape',
      'c-good,fine,,',
      `c-deep,,"${deep(10_000)}",`,
      `c-deep-output,,,"${deep(10_000)}"`,
      'c-escape,,"{""k"":""\\u0000""}",',
      'c-good-2,fine,"{""x"":[1,2]}",',
    ].join('\n');
    const upload = await uploadAndWait(t, token, projectId, csv, 'rows.csv');
    expect(upload.errorMessage).toBe('3 of 5 rows were rejected.');
    expect(upload.status).toBe('completed_with_errors');
    expect(upload.rows).toEqual({ processed: 5, succeeded: 2, failed: 3 });
    expect(await names('c-')).toEqual(['c-good', 'c-good-2']);
    const errors = await uploadErrors(t, token, projectId, upload.id);
    expect(errors.map((e) => [e.field, e.message])).toEqual([
      ['box', expect.stringContaining('deeper than 64 levels')],
      ['output_shape', expect.stringContaining('deeper than 64 levels')],
      ['box', expect.stringContaining('NUL character')],
    ]);
  });
});
