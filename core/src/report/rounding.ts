// How the report rounds numbers: enough digits to read, few enough bytes for 10,000 features.

/** Scores and statistics: four significant digits. */
export function round(value: number | null | undefined): number | null {
  if (value === null || value === undefined || !Number.isFinite(value)) return null;
  return Number(value.toPrecision(4));
}

/** Per-token activations and predictions: three significant digits, what the page shows (about a third of the bytes). */
export function roundAll(values: ArrayLike<number | null>): (number | null)[] {
  return Array.from(values, (v) => (v === null || !Number.isFinite(v) ? null : Number(v.toPrecision(3))));
}
