import multipart from '@fastify/multipart';

/**
 * multipart/form-data for file uploads. Files are streamed by the route (never buffered here);
 * one file and a few small fields per request.
 */
export const multipartOptions = (maxFileBytes: number) => ({
  limits: { fileSize: maxFileBytes, files: 1, fields: 10, fieldSize: 4096, parts: 12, headerPairs: 100 },
  throwFileSizeLimit: true,
});

export default multipart;
