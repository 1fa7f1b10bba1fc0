import { Type } from 'typebox';

/** Every API error: `{ error, message, details? }`. */
export const ErrorResponse = Type.Object({
  error: Type.String({ description: 'Machine-readable code, e.g. not_found, validation_failed' }),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});
