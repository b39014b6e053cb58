import { readFileSync } from 'node:fs';

/** The version in package.json, read once when asked (not at import). */
export function valetVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
