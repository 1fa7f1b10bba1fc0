import type { EntityManager } from '@mikro-orm/postgresql';
import { sql } from 'kysely';
import { conflict } from '../../lib/errors.ts';
import type { StageInfo } from '../projects/project-access.ts';

/** The answer when a review stage was removed while a transition was moving tasks into it. */
export const STAGE_REMOVED = (name: string) => `${name} was removed from the project meanwhile. Reload the page and try again.`;

/**
 * tasks.stage_id has no foreign key (README, "Data integrity"), so a transition into a review stage
 * locks the stage row `for key share`, as a key check would: an admin's removal of that stage
 * (which locks it `for update` before it counts the stage's tasks) then either waits for the
 * transition and sees its tasks, or has removed the stage first, and the transition answers 409.
 * Label and Ground Truth are never removed, so entering them takes no lock. Must run in the
 * transaction of the transition.
 */
export async function lockStageForEntry(em: EntityManager, stage: StageInfo): Promise<void> {
  if (stage.kind !== 'review') return;
  const { rows } = await sql`select id from stages where id = ${stage.id}::bigint for key share`.execute(em.getKysely());
  if (!rows.length) throw conflict(STAGE_REMOVED(stage.name));
}
