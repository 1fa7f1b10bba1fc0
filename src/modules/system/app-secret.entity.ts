import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** Instance-wide generated secrets (the session key when SESSION_SECRET is not set). */
export const AppSecret = defineEntity({
  name: 'AppSecret',
  tableName: 'app_secrets',
  properties: {
    name: p.text().primary(),
    value: p.text(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});
export type IAppSecret = InferEntity<typeof AppSecret>;
