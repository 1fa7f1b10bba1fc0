import type { FastifyRequest } from 'fastify';
import { forbidden } from '../../lib/errors.ts';
import type { IUser } from './user.entity.ts';

/**
 * The API's instance-admin check: 403 naming what is needed. (The admin pages answer 404 instead:
 * they keep their addresses to themselves, while the API's calls are listed in its document.)
 */
export function requireInstanceAdminApi(request: FastifyRequest): IUser {
  const user = request.requireUser();
  if (!user.isAdmin) throw forbidden('This needs an instance admin. Your account is not one.');
  return user;
}
