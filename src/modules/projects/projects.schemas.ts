import { Type } from 'typebox';

export const ProjectParams = Type.Object({ projectId: Type.Integer({ minimum: 1 }) });

export const ProjectCreateForm = Type.Object({
  name: Type.String({ title: 'Name', minLength: 1, maxLength: 120 }),
  description: Type.Optional(Type.String({ title: 'Description', maxLength: 2000 })),
  reviewStages: Type.Integer({ title: 'Review stages', minimum: 0, maximum: 10, default: 1, errorMessage: 'Choose between 0 and 10 review stages' }),
});
