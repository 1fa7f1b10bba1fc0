import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { FormErrors } from '../../plugins/app/form-errors.ts';
import { FormBody } from '../../lib/form.ts';
import { paged, PageQuery } from '../../lib/pagination.ts';

const PAGE_SIZE = 50;
const FailedJobParams = Type.Object({ jobName: Type.String({ pattern: '^[a-z-]{1,64}$' }), id: Type.String({ pattern: '^[0-9a-fA-F-]{36}$' }) });

/** the Failed jobs page: the dead letters of every background job, to retry or drop (instance admins). */
const failedJobsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  // before any handler: a job that is gone is a flash, a page that is not yours a 404
  fastify.addHook('preHandler', async (request) => {
    request.requireInstanceAdmin();
  });
  const backToList: FormErrors = { statuses: 'any', back: () => '/admin/failed-jobs' };

  fastify.get('/admin/failed-jobs', { schema: { querystring: PageQuery } }, async (request, reply) => {
    const page = request.query.page ?? 1;
    const { rows, total } = await fastify.failedJobs.list(PAGE_SIZE, (page - 1) * PAGE_SIZE);
    return reply.render('admin/failed-jobs', { title: 'Failed jobs', failed: paged(rows, total, page, PAGE_SIZE) });
  });

  for (const [action, done] of [['retry', 'is back in its queue'], ['drop', 'was dropped']] as const) {
    fastify.post(`/admin/failed-jobs/:jobName/:id/${action === 'retry' ? 'retrial' : 'removal'}`, { schema: { params: FailedJobParams, body: FormBody }, config: { formErrors: backToList } }, async (request, reply) => {
      const { jobName, id } = request.params;
      await fastify.failedJobs[action](jobName, id);
      reply.flash('success', `The job ${done}.`);
      return reply.redirect('/admin/failed-jobs', 303);
    });
  }
};

export default failedJobsRoutes;
