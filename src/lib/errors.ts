/** An error a user or API client can act on; its message is safe to show. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const badRequest = (message: string) => new HttpError(400, 'bad_request', message);
export const notFound = (what = 'Not found') => new HttpError(404, 'not_found', what);
export const forbidden = (message = 'You may not do this') => new HttpError(403, 'forbidden', message);
export const conflict = (message: string, details?: unknown) => new HttpError(409, 'conflict', message, details);
export const unprocessable = (message: string, details?: unknown) => new HttpError(422, 'validation_failed', message, details);
export const unauthorized = (message = 'Authentication required') => new HttpError(401, 'unauthorized', message);
/** what the API answers without a valid token */
export const TOKEN_REQUIRED = 'Send a valid API token as "Authorization: Bearer <token>"';

/** A refusal a form shows next to its fields: bad input (422), or a clash with what exists (409). */
