/** The `paths`, `components` and `operations` types of an OpenAPI document, as TypeScript source (binary strings are `Blob`s). */
export function generateApiTypes(document: object): Promise<string>;
