import { describe, expect, it } from 'vitest';
import { expandAllowedPrefixes, folderOwnedElsewhere } from './folders.ts';
import type { FolderClaim } from './folders.ts';

const spec = { allowedPrefixes: ['teams/{namespace}/', 'shared/', 'projects/'], sharedPrefixes: ['shared/imagenet/'] };
const claim = (namespace: string, prefix: string, creationTimestamp: string, name = 'a'): FolderClaim => ({ namespace, name, prefix, creationTimestamp });

describe('folder ownership on a cluster store', () => {
  it('expands {namespace} as a whole segment only', () => {
    expect(expandAllowedPrefixes(['teams/{namespace}/', 'x{namespace}/', '{namespace}/data/'], 'team-a')).toEqual(['teams/team-a/', 'x{namespace}/', 'team-a/data/']);
  });

  it("refuses a folder that overlaps an older claim of another namespace, either way round", () => {
    const older = claim('team-a', 'projects/vision/', '2026-01-01T00:00:00Z');
    for (const prefix of ['projects/vision/', 'projects/vision/run-1/', 'projects/']) {
      expect(folderOwnedElsewhere(claim('team-b', prefix, '2026-01-02T00:00:00Z'), [older], spec), prefix).toBe(true);
    }
    // The owner keeps it; siblings and the same namespace are free.
    expect(folderOwnedElsewhere(older, [claim('team-b', 'projects/vision/', '2026-01-02T00:00:00Z')], spec)).toBe(false);
    expect(folderOwnedElsewhere(claim('team-b', 'projects/visionary/', '2026-01-02T00:00:00Z'), [older], spec)).toBe(false);
    expect(folderOwnedElsewhere(claim('team-a', 'projects/vision/x/', '2026-01-02T00:00:00Z', 'b'), [older], spec)).toBe(false);
  });

  it('breaks a tie in creation time by namespace/name, so exactly one side wins', () => {
    const a = claim('team-a', 'projects/p/', '2026-01-01T00:00:00Z');
    const b = claim('team-b', 'projects/p/', '2026-01-01T00:00:00Z');
    expect([folderOwnedElsewhere(a, [a, b], spec), folderOwnedElsewhere(b, [a, b], spec)]).toEqual([false, true]);
  });

  it('lets every namespace use sharedPrefixes, but not a parent folder of them', () => {
    const a = claim('team-a', 'shared/imagenet/', '2026-01-01T00:00:00Z');
    expect(folderOwnedElsewhere(claim('team-b', 'shared/imagenet/train/', '2026-01-02T00:00:00Z'), [a], spec)).toBe(false);
    expect(folderOwnedElsewhere(claim('team-b', 'shared/', '2026-01-02T00:00:00Z'), [a], spec)).toBe(true);
  });

  it('ignores a claim that its own namespace may not make (it cannot block anyone)', () => {
    const invalid = claim('team-a', 'teams/team-b/', '2026-01-01T00:00:00Z');
    expect(folderOwnedElsewhere(claim('team-b', 'teams/team-b/', '2026-01-02T00:00:00Z'), [invalid], spec)).toBe(false);
  });
});
