import openapiTS, { astToString } from 'openapi-typescript';
import ts from 'typescript';

const BLOB = ts.factory.createTypeReferenceNode(ts.factory.createIdentifier('Blob'));

/**
 * The `paths`, `components` and `operations` types of an OpenAPI document, as TypeScript source.
 * A binary string (a file field of a multipart body, a download) is a `Blob`, so a generated
 * client can send a file without a cast.
 * @param {object} document the OpenAPI document
 * @returns {Promise<string>}
 */
export async function generateApiTypes(document) {
  const ast = await openapiTS(document, {
    transform: (schema) => (schema.format === 'binary' ? BLOB : undefined),
  });
  return astToString(ast);
}
