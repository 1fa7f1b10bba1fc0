import type { FastifyError, FastifyRequest } from 'fastify';
import { HttpError } from '../../lib/errors.ts';

/** The media types an API route reads a body in: its `consumes` (the upload: multipart), else JSON. */
const accepted = (request: FastifyRequest): readonly string[] => request.routeOptions.schema?.consumes ?? ['application/json'];

const unsupported = (request: FastifyRequest) => new HttpError(415, 'unsupported_media_type', `Send the body as ${accepted(request).join(' or ')}.`);

/**
 * onRequest of the API: a body in another media type (a form, text, multipart to a JSON route)
 * answers 415 before it is read. The app parses forms and multipart for its pages; the API
 * reads only what the route documents.
 */
export async function refuseOtherMediaTypes(request: FastifyRequest) {
  const type = request.headers['content-type'];
  if (type === undefined || request.method === 'GET' || request.method === 'HEAD') return;
  if (!accepted(request).includes(type.split(';')[0].trim().toLowerCase())) throw unsupported(request);
}

/** Fastify's own errors while reading a body, in the API's words (null for any other error). */
export function bodyReadingError(error: FastifyError, request: FastifyRequest): HttpError | null {
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new HttpError(400, 'invalid_json', 'The request body is not valid JSON.');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new HttpError(400, 'invalid_json', 'The body is empty but its Content-Type is application/json: send JSON, or no Content-Type.');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new HttpError(400, 'bad_request', 'The body does not match its Content-Length.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return unsupported(request);
    default:
      return null;
  }
}
