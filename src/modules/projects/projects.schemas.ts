import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { parseForm, type FieldErrors, type FormResult } from '../../lib/form.ts';
import type { StageInfo } from './project-access.ts';
import type { ProjectSettingsInput } from './projects.service.ts';

export const SchemaQuery = Type.Object({
  rows: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, description: 'Empty rows shown below the existing fields' })),
});

/** The share of tasks a review stage samples; 0 disables the stage. */
export const ReviewPercent = Type.Integer({ minimum: 0, maximum: 100, description: 'Share of tasks the review stage samples, 0–100 (0 disables it)' });

const Checkbox = Type.Optional(Type.Union([Type.Literal('on'), Type.Literal('true'), Type.Literal('1')]));

export const ProjectCreateForm = Type.Object({
  name: Type.String({ title: 'Name', minLength: 1, maxLength: 120 }),
  description: Type.Optional(Type.String({ title: 'Description', maxLength: 2000 })),
  reviewStages: Type.Integer({ title: 'Review stages', minimum: 0, maximum: 10, default: 1, errorMessage: 'Choose between 0 and 10 review stages' }),
});

export const ProjectSettingsForm = Type.Object({
  name: Type.String({ title: 'Name', minLength: 1, maxLength: 120, errorMessage: 'Enter a name of at most 120 characters' }),
  slug: Type.String({
    title: 'Slug',
    minLength: 1,
    maxLength: 60,
    pattern: '^[a-z0-9]+(-[a-z0-9]+)*$',
    errorMessage: 'Use lowercase letters, digits and single hyphens (at most 60 characters)',
  }),
  description: Type.Optional(Type.String({ title: 'Description', maxLength: 2000, errorMessage: 'Use at most 2,000 characters' })),
  instructionsUrl: Type.Optional(Type.String({ title: 'Instructions URL', maxLength: 2000, errorMessage: 'Enter an http:// or https:// address (at most 2,000 characters)' })),
  autoAssign: Checkbox,
  queueSize: Type.Integer({ title: 'Tasks per request', minimum: 1, maximum: 50, errorMessage: 'Enter a whole number from 1 to 50' }),
  reservationMinutes: Type.Integer({ title: 'Reservation lease', minimum: 1, maximum: 525600, errorMessage: 'Enter a whole number of minutes from 1 to 525,600 (one year)' }),
  autoArchiveAfterDays: Type.Optional(Type.Integer({ title: 'Archive after', minimum: 1, maximum: 3650, errorMessage: 'Leave empty for off, or enter a whole number of days from 1 to 3,650' })),
});

/** Only absolute http(s) URLs: instructions links are shown to every annotator. */
export function isWebUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export const reviewPercentField = (stageId: number) => `reviewPercent.${stageId}`;

/**
 * The settings form, with one `reviewPercent.<stageId>` number per review stage.
 * A review stage missing from the form (added meanwhile) keeps its percentage.
 */
export function parseSettingsForm(body: unknown, reviewStages: StageInfo[]): FormResult<ProjectSettingsInput> {
  const raw = (body ?? {}) as Record<string, unknown>;
  const form = parseForm(ProjectSettingsForm, raw);
  const errors: FieldErrors = form.ok ? {} : { ...form.errors };

  const url = typeof raw.instructionsUrl === 'string' ? raw.instructionsUrl.trim() : '';
  if (!errors.instructionsUrl && url !== '' && !isWebUrl(url)) {
    errors.instructionsUrl = 'Enter an http:// or https:// address (at most 2,000 characters)';
  }

  const reviewPercents: Record<number, number> = {};
  for (const stage of reviewStages) {
    const key = reviewPercentField(stage.id);
    if (!(key in raw)) continue;
    const value = raw[key];
    const text = typeof value === 'string' ? value.trim() : '';
    if (!/^\d{1,3}$/.test(text) || !Value.Check(ReviewPercent, Number(text))) {
      errors[key] = `${stage.name}: enter a whole number from 0 to 100 (0 disables the stage)`;
      continue;
    }
    reviewPercents[stage.id] = Number(text);
  }

  if (!form.ok || Object.keys(errors).length > 0) return { ok: false, errors };
  const v = form.value;
  return {
    ok: true,
    value: {
      name: v.name,
      slug: v.slug,
      description: v.description,
      instructionsUrl: v.instructionsUrl,
      autoAssign: v.autoAssign !== undefined,
      queueSize: v.queueSize,
      reservationMinutes: v.reservationMinutes,
      autoArchiveAfterDays: v.autoArchiveAfterDays,
      reviewPercents,
    },
  };
}
