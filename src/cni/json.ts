// Go's encoding/json matches object keys case-insensitively, and containerd
// relies on it (it sends {"Subnet":...}, {"HostPort":...}). These helpers give
// TypeScript code the same leniency where the reference plugins have it.
import { configError } from './errors.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Go's encoding/json folds keys as Unicode simple folding does: besides case,
// 'ſ' (U+017F) is 's' and the Kelvin sign (U+212A, which toLowerCase maps) is 'k'.
const fold = (k: string): string => k.toLowerCase().replace(/\u017f/g, 's');

/**
 * Value of `key` in `obj`, keys matched case-insensitively, the last match
 * winning: Go decodes an object's keys in order into the field each names,
 * so with both "ranges" and "Ranges" the later one is what Go uses. A later
 * null does not undo an earlier value (Go leaves a string, number, bool or
 * struct field as it was on null); a null alone is returned as null.
 */
export function getKey(obj: JsonObject, key: string): unknown {
  const want = fold(key);
  let found: unknown;
  for (const k of Object.keys(obj)) if (fold(k) === want && (obj[k] !== null || found === undefined)) found = obj[k];
  return found;
}

export function optString(obj: JsonObject, key: string, where: string): string | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw configError(`${where}${key} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

// Go's libcni accepts "true"/"false" strings for booleans; so do we.
export function optBool(obj: JsonObject, key: string, where: string): boolean {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw configError(`${where}${key} must be a boolean, got ${JSON.stringify(v)}`);
}

export function optInt(obj: JsonObject, key: string, where: string, min: number, max: number): number | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw configError(`${where}${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

export function optObject(obj: JsonObject, key: string, where: string): JsonObject | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw configError(`${where}${key} must be an object, got ${JSON.stringify(v)}`);
  return v;
}

export function optArray(obj: JsonObject, key: string, where: string): unknown[] | undefined {
  const v = getKey(obj, key);
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw configError(`${where}${key} must be a list, got ${JSON.stringify(v)}`);
  return v;
}

export function optStringArray(obj: JsonObject, key: string, where: string): string[] | undefined {
  const arr = optArray(obj, key, where);
  if (arr === undefined) return undefined;
  arr.forEach((s, i) => {
    if (typeof s !== 'string') throw configError(`${where}${key}[${i}] must be a string, got ${JSON.stringify(s)}`);
  });
  return arr as string[];
}
