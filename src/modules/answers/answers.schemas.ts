import { Type } from 'typebox';

/** `sets=3,7,9`, or `sets` repeated (a checkbox form); other keys are ignored. */
export const CompareQuery = Type.Object(
  {
    sets: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String())], {
        description: 'Answer set ids of the task, comma-separated (at least two, at most 12)',
        examples: ['3,7,9'],
      }),
    ),
  },
  { additionalProperties: true },
);
