// RFC 3986 percent-encoding as SigV4 and GCS V4 canonical requests want it.

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - . _ ~ escaped. */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The same, keeping '/' (object keys in the path). */
export function uriEncodePath(value: string): string {
  return value.split('/').map(uriEncode).join('/');
}
