import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import view from '@fastify/view';

export const viewsDir = fileURLToPath(new URL('../../../views', import.meta.url));

/** Eta escapes every `<%= %>` output; `<%~ %>` is reserved for markup we built ourselves. */
export const viewOptions = {
  engine: { eta: new Eta({ views: viewsDir, cache: true, autoEscape: true, autoTrim: [false, 'nl'] as ['nl' | 'slurp' | false, 'nl' | 'slurp' | false] }) },
  templates: viewsDir,
  // compile each template once: without this @fastify/view re-reads and re-compiles every template on
  // every render unless NODE_ENV=production (about a third of a task list request's CPU)
  production: true,
  // no global layout: pages pick theirs with layout(), fragments have none
};

export default view;
