import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

export const User = defineEntity({
  name: 'User',
  tableName: 'users',
  properties: {
    id: p.bigint('number').primary().autoincrement(),
    email: p.text(),
    name: p.text(),
    passwordHash: p.text().nullable().hidden(),
    isAdmin: p.boolean().default(false),
    active: p.boolean().default(true),
    sessionVersion: p.integer().default(1),
    inviteTokenHash: p.text().nullable().hidden(),
    inviteExpiresAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  },
});
export type IUser = InferEntity<typeof User>;
