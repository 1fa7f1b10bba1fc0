import fp from 'fastify-plugin';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ApiTokensService } from '../../modules/api-tokens/api-tokens.service.ts';
import { MembersService } from '../../modules/members/members.service.ts';
import { ProjectsService } from '../../modules/projects/projects.service.ts';
import { SecretsService } from '../../modules/system/secrets.service.ts';
import { UsersService } from '../../modules/users/users.service.ts';
import { TaskDetailService } from '../../modules/tasks/task-detail.service.ts';
import { TaskListRepository } from '../../modules/tasks/task-list.repository.ts';
import { UploadsService } from '../../modules/uploads/uploads.service.ts';

/** The composition root: every service of one unit of work shares one EntityManager. */
export function createServices(em: EntityManager) {
  return {
    users: new UsersService(em),
    apiTokens: new ApiTokensService(em),
    projects: new ProjectsService(em),
    members: new MembersService(em),
    secrets: new SecretsService(em),
    taskList: new TaskListRepository(em),
    taskDetail: new TaskDetailService(em),
    uploads: new UploadsService(em),
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
      getter(this: { em: EntityManager; _services?: Services }) {
        return (this._services ??= createServices(this.em));
      },
    });
  },
  { name: 'services', dependencies: ['orm'] },
);
