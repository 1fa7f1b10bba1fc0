import fp from 'fastify-plugin';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import { BulkService } from '../../modules/bulk/bulk.service.ts';
import { ArchivesService } from '../../modules/archives/archives.service.ts';
import { ExportsService } from '../../modules/exports/exports.service.ts';
import { ApiTokensService } from '../../modules/api-tokens/api-tokens.service.ts';
import { MembersService } from '../../modules/members/members.service.ts';
import { ProjectsService } from '../../modules/projects/projects.service.ts';
import { SecretsService } from '../../modules/system/secrets.service.ts';
import { UsersService } from '../../modules/users/users.service.ts';
import { SessionsService } from '../../modules/sessions/sessions.service.ts';
import { TaskDetailService } from '../../modules/tasks/task-detail.service.ts';
import { TaskListRepository } from '../../modules/tasks/task-list.repository.ts';
import { TaskApiRepository } from '../../modules/tasks/task-api.repository.ts';
import { AnswersService } from '../../modules/answers/answers.service.ts';
import { QueueService } from '../../modules/queue/queue.service.ts';
import { DeliveriesService } from '../../modules/deliveries/deliveries.service.ts';
import { UploadsService } from '../../modules/uploads/uploads.service.ts';
import { StatsService } from '../../modules/stats/stats.service.ts';

/**
 * The composition root: every service of one unit of work shares one EntityManager. `boss` is
 * there for services that start jobs (scripts without a job queue leave it out).
 */
export function createServices(em: EntityManager, boss?: PgBoss) {
  const bulk = new BulkService(em, boss);
  return {
    users: new UsersService(em),
    sessions: new SessionsService(em),
    apiTokens: new ApiTokensService(em),
    projects: new ProjectsService(em),
    members: new MembersService(em),
    secrets: new SecretsService(em),
    taskList: new TaskListRepository(em),
    taskDetail: new TaskDetailService(em),
    taskApi: new TaskApiRepository(em),
    answers: new AnswersService(em),
    bulk,
    archives: new ArchivesService(em),
    exports: new ExportsService(em, boss),
    queue: new QueueService(em, boss),
    deliveries: new DeliveriesService(em, bulk),
    uploads: new UploadsService(em),
    stats: new StatsService(em, boss),
  };
}
export type Services = ReturnType<typeof createServices>;

declare module 'fastify' {
  interface FastifyRequest {
    services: Services;
  }
}

export default fp(
  async function services(fastify) {
    fastify.decorateRequest('services', {
      getter(this: { em: EntityManager; server: { boss: PgBoss }; _services?: Services }) {
        return (this._services ??= createServices(this.em, this.server.boss));
      },
    });
  },
  { name: 'services', dependencies: ['orm', 'boss'] },
);
