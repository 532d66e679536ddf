/**
 * The public base URL setting (`http.public_url`): where viewers reach the engine, e.g.
 * behind a TLS reverse proxy. Either an absolute http(s) URL with an optional path
 * (`https://tv.example.com/retrovue`), a path prefix alone (`/retrovue`: scheme and host come
 * from each request), or "" (neither).
 *
 * @module
 */

/** A parsed public URL: origin (when absolute) and path prefix without a trailing slash. */
export interface PublicUrl {
  /** `https://tv.example.com`, or undefined to take it from each request. */
  origin: string | undefined;
  /** `/retrovue`, or "" for none. */
  prefix: string;
}

const PREFIX = /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+\/?$/;

/** Parses the setting; undefined when it is none of the accepted forms. */
export function parsePublicUrl(text: string): PublicUrl | undefined {
  if (text === "" || text === "/") return { origin: undefined, prefix: "" };
  if (text.startsWith("/")) {
    return PREFIX.test(text) ? { origin: undefined, prefix: text.replace(/\/+$/, "") } : undefined;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    return undefined;
  }
  return { origin: url.origin, prefix: url.pathname.replace(/\/+$/, "") };
}
