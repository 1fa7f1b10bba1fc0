import { Type } from 'typebox';

/** One page of a history list, with what its pager needs. */
export interface Paged<T> {
  rows: T[];
  total: number;
  page: number;
  /** the number of pages (at least 1, so an empty list still has its page 1) */
  pages: number;
}

export function paged<T>(rows: T[], total: number, page: number, size: number): Paged<T> {
  return { rows, total, page, pages: Math.max(1, Math.ceil(total / size)) };
}

/** `?page=` of a history list (shared by every paged page) */
export const PageQuery = Type.Object({ page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1 })) });
