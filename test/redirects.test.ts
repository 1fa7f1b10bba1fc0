import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, createAdmin, createTestApp, csrfFrom, loggedIn, type TestApp } from './helpers/app.ts';
import { safeNext } from '../src/modules/users/users.schemas.ts';

const FOREIGN = [
  '/\t/127.0.0.1:9/phish', '/\n/evil.example', '//evil.example', '/\\evil.example', '\\\\evil.example', 'https://evil.example/',
  'javascript:alert(1)', '/\r\nSet-Cookie: x=1', ' //evil.example', '/%09/evil.example', 'http:/evil.example',
];

describe('redirects after sign-in stay on this site', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
    await createAdmin(t);
  });
  afterAll(() => t.close());

  it('accepts same-origin paths and sends everything else to the default page', () => {
    expect(safeNext('/projects/3/tasks?state=new#top')).toBe('/projects/3/tasks?state=new#top');
    for (const next of FOREIGN) {
      const target = safeNext(next);
      expect(new URL(target, 'http://app.example').origin, next).toBe('http://app.example');
      expect(target, next).not.toMatch(/^[/\\]{2}|[\r\n\t]/);
    }
    expect(safeNext('/\t/127.0.0.1:9/phish')).toBe('/projects');
  });

  it.each(FOREIGN)('POST /login with next=%j answers 303 to a path of ours', async (next) => {
    const client = agent(t.app);
    const page = await client.get('/login');
    const res = await client.post('/login').type('form').send({ email: 'admin@example.org', password: 'correct horse battery', next, _csrf: csrfFrom(page.text) });
    expect(res.status).toBe(303);
    expect(res.headers.location).toMatch(/^\/(?![/\\])/);
    expect(new URL(res.headers.location, 'http://app.example').origin).toBe('http://app.example');
  });

  it.each(FOREIGN)('a signed-in GET /login?next=%j stays here', async (next) => {
    const client = await loggedIn(t, 'admin@example.org');
    const res = await client.get(`/login?next=${encodeURIComponent(next)}`);
    expect(res.status).toBeLessThan(400);
    expect(res.headers.location).toMatch(/^\/(?![/\\])/);
  });
});
