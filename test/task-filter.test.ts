import { describe, expect, it } from 'vitest';
import { canonicalQuery, parseTaskFilter } from '../src/modules/selection/task-filter.ts';

describe('task filter', () => {
  it('round-trips through its canonical query string (defaults dropped, keys sorted)', () => {
    const query = { state: ['rejected', 'new'], stage: '3', pmin: '-5', pmax: '10', smin: '0.25', q: 'frame-00', batch: 'b-1', batch_match: 'exact', sort: 'priority', dir: 'asc', page: '3', size: '100', held: 'no', created_from: '2026-01-31' };
    const { filter, errors } = parseTaskFilter(query);
    expect(errors).toEqual({});
    const qs = canonicalQuery(filter);
    expect(qs).toBe('batch=b-1&batch_match=exact&created_from=2026-01-31&dir=asc&held=no&page=3&pmax=10&pmin=-5&q=frame-00&size=100&smin=0.25&sort=priority&stage=3&state=new&state=rejected');
    const params = new URLSearchParams(qs);
    const again = parseTaskFilter(Object.fromEntries([...new Set(params.keys())].map((k) => [k, params.getAll(k)])));
    expect(again.filter).toEqual(filter);
    expect(canonicalQuery(parseTaskFilter({ sort: 'submitted', dir: 'desc', page: '1', size: '50', unknown: 'x' }).filter)).toBe('');
  });

  it.each([
    ['pmin', 'abc'], ['pmin', '1.5'], ['pmax', String(2 ** 40)], ['smin', '1.0000000001'], ['smax', '0.1234567891'],
    ['created_from', '2026-02-30'], ['submitted_to', 'yesterday'], ['sort', 'password_hash'], ['state', 'deleted'],
    ['page', '0'], ['page', '-1'], ['size', '1000'], ['upload', '1;drop table tasks'],
  ])('reports %s=%s as an error and leaves it out', (key, value) => {
    const { filter, errors } = parseTaskFilter({ [key]: value });
    expect(errors[key]).toBeTruthy();
    expect(canonicalQuery(filter)).toBe('');
  });
});
