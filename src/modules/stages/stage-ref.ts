/**
 * The stage an API call names by its name (e.g. `Review_1`) or its id. A name is matched first,
 * so a stage whose name is digits is still found by its name.
 */
export function findStage<S extends { id: number; name: string }>(stages: S[], ref: string | number): S | undefined {
  const text = String(ref).trim();
  return stages.find((s) => s.name === text) ?? (/^\d+$/.test(text) ? stages.find((s) => s.id === Number(text)) : undefined);
}
