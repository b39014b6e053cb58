// RFC 6902 JSON Patch, the part admission webhooks use: `add` (which also replaces an object
// member) and `remove`, with RFC 6901 pointers. applyPatch exists so tests (and a paranoid caller) can apply a
// patch to the pod it was made for and check the result, e.g. that a second pass yields nothing.

export type JsonPatchOp = { op: 'add'; path: string; value: unknown } | { op: 'remove'; path: string };

/** Escapes one reference token: `~` → `~0`, `/` → `~1` (so `valet.dev/injected` → `valet.dev~1injected`). */
export function escapePointer(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1');
}

function unescapePointer(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Applies `add` and `remove` operations to a deep copy of `doc`. Throws on a path that does not resolve. */
export function applyPatch<T>(doc: T, patch: readonly JsonPatchOp[]): T {
  const root = structuredClone(doc) as unknown;
  for (const op of patch) {
    if ((op.op !== 'add' && op.op !== 'remove') || !op.path.startsWith('/')) throw new Error(`unsupported patch operation ${JSON.stringify(op)}`);
    const tokens = op.path.slice(1).split('/').map(unescapePointer);
    const last = tokens.pop();
    let node = root as Record<string, unknown> | unknown[];
    for (const t of tokens) {
      const next = Array.isArray(node) ? node[Number(t)] : node[t];
      if (next === null || typeof next !== 'object') throw new Error(`path ${op.path} does not resolve at ${JSON.stringify(t)}`);
      node = next as Record<string, unknown> | unknown[];
    }
    if (last === undefined) throw new Error('cannot replace the whole document');
    if (op.op === 'remove') {
      if (Array.isArray(node)) {
        const i = Number(last);
        if (!Number.isInteger(i) || i < 0 || i >= node.length) throw new Error(`index ${last} out of range at ${op.path}`);
        node.splice(i, 1);
      } else {
        if (!(last in node)) throw new Error(`path ${op.path} does not exist`);
        delete node[last];
      }
      continue;
    }
    const value = structuredClone(op.value);
    if (Array.isArray(node)) {
      const i = last === '-' ? node.length : Number(last);
      if (!Number.isInteger(i) || i < 0 || i > node.length) throw new Error(`index ${last} out of range at ${op.path}`);
      node.splice(i, 0, value);
    } else {
      node[last] = value;
    }
  }
  return root as T;
}
