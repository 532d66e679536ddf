/**
 * Minimal assertions for tests (JSR's @std/assert is unreachable here).
 *
 * @module
 */

/** An assertion that did not hold. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Throws unless `cond` is truthy. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

/** Deep equality by structural JSON-like comparison. */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!deepEqual(actual, expected)) {
    throw new AssertionError(
      `${msg ? msg + ": " : ""}values differ\n  actual:   ${show(actual)}\n  expected: ${
        show(expected)
      }`,
    );
  }
}

/** Throws unless `fn` throws (or rejects) an instance of `ErrorClass`; returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof ErrorClass)) {
      throw new AssertionError(`expected ${ErrorClass.name}, got ${show(err)}`);
    }
    if (includes && !err.message.includes(includes)) {
      throw new AssertionError(`error message ${show(err.message)} lacks ${show(includes)}`);
    }
    return err;
  }
  throw new AssertionError(`expected ${ErrorClass.name}, nothing was thrown`);
}

/** Throws unless `fn` throws an instance of `ErrorClass` synchronously; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  // deno-lint-ignore no-explicit-any
  ErrorClass: new (...args: any[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ErrorClass)) {
      throw new AssertionError(`expected ${ErrorClass.name}, got ${show(err)}`);
    }
    if (includes && !err.message.includes(includes)) {
      throw new AssertionError(`error message ${show(err.message)} lacks ${show(includes)}`);
    }
    return err;
  }
  throw new AssertionError(`expected ${ErrorClass.name}, nothing was thrown`);
}

function show(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
  } catch {
    return String(v);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}
