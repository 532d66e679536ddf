/**
 * Asset locations: a path, or a `file:` URI naming one.
 *
 * @module
 */

/**
 * The path a `file:` URI names (percent-decoded), `location` itself when it is not a `file:`
 * URI, or undefined for a malformed `file:` URI.
 */
export function pathOfLocation(location: string): string | undefined {
  if (!location.startsWith("file:")) return location;
  if (!URL.canParse(location)) return undefined;
  return decodeURIComponent(new URL(location).pathname);
}
