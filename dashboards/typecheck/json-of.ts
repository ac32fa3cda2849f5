// Grafana stores enum-valued fields as their plain JSON values ("absolute", 1), while
// @grafana/schema types them as TypeScript enums, which no JSON literal can satisfy.
// JsonOf<T> turns each string enum into the union of its values (numeric enums already
// accept their member values) and leaves every other type as it is, so the check still
// rejects unknown keys, missing required keys and wrongly typed values.
export type JsonOf<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends ReadonlyArray<infer U>
      ? JsonOf<U>[]
      : T extends object
        ? { [K in keyof T]: JsonOf<T[K]> }
        : T;
