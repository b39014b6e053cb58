// Which claims overlap a folder, without looking at every claim (ADR 0009 at scale). Two folders
// overlap when one is inside the other; prefixes are folders ending in '/', so the claims
// overlapping P are those inside P (indexed under each of their ancestor folders) and those at one
// of P's ancestors (indexed by their exact prefix). A prefix that is not folder-shaped (an invalid
// access) is kept aside and always returned, so the answer never misses one: callers still apply
// the exact overlap rule to what they get.

/** The folders containing `prefix`, outermost first, ending with `prefix` itself: a/, a/b/, a/b/c/. */
function folders(prefix: string): string[] {
  const out: string[] = [];
  for (let i = prefix.indexOf('/'); i >= 0; i = prefix.indexOf('/', i + 1)) out.push(prefix.slice(0, i + 1));
  return out;
}

const folderShaped = (p: string) => p.length > 0 && p.endsWith('/');

export class ClaimIndex {
  /** Keys by every folder their prefix lies in (itself included). */
  private readonly under = new Map<string, Set<string>>();
  /** Keys by their exact prefix. */
  private readonly exact = new Map<string, Set<string>>();
  /** Keys whose prefix is not folder-shaped. */
  private readonly odd = new Set<string>();

  private static put(map: Map<string, Set<string>>, k: string, key: string): void {
    let set = map.get(k);
    if (!set) map.set(k, (set = new Set()));
    set.add(key);
  }

  private static drop(map: Map<string, Set<string>>, k: string, key: string): void {
    const set = map.get(k);
    set?.delete(key);
    if (set?.size === 0) map.delete(k);
  }

  add(key: string, prefix: string): void {
    if (!folderShaped(prefix)) return void this.odd.add(key);
    ClaimIndex.put(this.exact, prefix, key);
    for (const f of folders(prefix)) ClaimIndex.put(this.under, f, key);
  }

  remove(key: string, prefix: string): void {
    if (!folderShaped(prefix)) return void this.odd.delete(key);
    ClaimIndex.drop(this.exact, prefix, key);
    for (const f of folders(prefix)) ClaimIndex.drop(this.under, f, key);
  }

  /**
   * Keys whose prefix may overlap `prefix`: every one that does, and possibly a few that do not (so
   * check each). `all` answers for a query that is not folder-shaped.
   */
  candidates(prefix: string, all: () => Iterable<string>): Iterable<string> {
    if (!folderShaped(prefix)) return all();
    const out = new Set<string>(this.odd);
    for (const key of this.under.get(prefix) ?? []) out.add(key);
    const outer = folders(prefix).slice(0, -1);
    for (const f of outer) for (const key of this.exact.get(f) ?? []) out.add(key);
    return out;
  }
}
