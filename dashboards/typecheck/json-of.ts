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

import type { AnnotationQuery, Dashboard } from "@grafana/schema";

// @grafana/schema types an annotation's query (`target`) for the built-in Grafana source only
// (its own TODO says so). Grafana's Prometheus data source reads these keys from the
// annotation itself (and moves `expr`/`step` into `target` when it loads the dashboard), so
// they are allowed next to the schema's keys, and nothing else is.
export interface PrometheusAnnotationFields {
  expr?: string;
  step?: string;
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
}

// The type every dashboard JSON must satisfy: Dashboard, with Prometheus annotation queries.
export type CheckedDashboard = Omit<Dashboard, "annotations"> & {
  annotations?: { list?: Array<AnnotationQuery & PrometheusAnnotationFields> };
};
