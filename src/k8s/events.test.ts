import type { CoreV1Event } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../platform/clock.ts';
import { memoryLogger } from '../platform/logger.ts';
import { EventRecorder } from './events.ts';
import type { EventApi } from './events.ts';

function setup(failCreate = false) {
  const clock = new FakeClock();
  const created: CoreV1Event[] = [];
  const patches: Array<{ name: string; body: unknown }> = [];
  const core = {
    createNamespacedEvent: async ({ body }: { body: CoreV1Event }) => {
      if (failCreate) throw Object.assign(new Error('Forbidden'), { code: 403 });
      created.push(JSON.parse(JSON.stringify(body)) as CoreV1Event);
      return { ...body, metadata: { ...body.metadata, name: `${body.metadata.generateName}${created.length}` } };
    },
    patchNamespacedEvent: async (p: { name: string; body: unknown }) => void patches.push({ name: p.name, body: p.body }),
  } as unknown as EventApi;
  const logger = memoryLogger();
  const recorder = new EventRecorder({ core, clock, logger, instance: 'valet-0', dedupeWindowMs: 10 * 60_000 });
  return { clock, created, patches, recorder, logger };
}

const access = { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetAccess', metadata: { name: 'imagenet', namespace: 'team-a', uid: 'u1', resourceVersion: '5' } };

describe('EventRecorder', () => {
  it('creates a core/v1 Event naming the object, reported by valet', async () => {
    const { recorder, created } = setup();
    await recorder.record(access, 'Warning', 'StoreNotFound', 'DatasetStore team-a/s3 not found');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      metadata: { generateName: 'imagenet.', namespace: 'team-a' },
      involvedObject: { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetAccess', name: 'imagenet', namespace: 'team-a', uid: 'u1' },
      type: 'Warning',
      reason: 'StoreNotFound',
      message: 'DatasetStore team-a/s3 not found',
      count: 1,
      source: { component: 'valet' },
      reportingComponent: 'valet',
      reportingInstance: 'valet-0',
      firstTimestamp: '2026-01-01T00:00:00.000Z',
    });
  });

  it('counts repeats within the window instead of emitting them, and emits again after it', async () => {
    const { recorder, created, patches, clock } = setup();
    await recorder.record(access, 'Warning', 'StoreNotFound', 'm');
    clock.advance(30_000);
    await recorder.record(access, 'Warning', 'StoreNotFound', 'm');
    expect(patches).toHaveLength(0); // count updates at most once a minute
    clock.advance(40_000);
    await recorder.record(access, 'Warning', 'StoreNotFound', 'm');
    expect(created).toHaveLength(1);
    expect(patches).toEqual([
      {
        name: 'imagenet.1',
        body: [
          { op: 'replace', path: '/count', value: 3 },
          { op: 'replace', path: '/lastTimestamp', value: '2026-01-01T00:01:10.000Z' },
        ],
      },
    ]);
    // A different message, or another object, is its own event.
    await recorder.record(access, 'Warning', 'StoreNotFound', 'other');
    await recorder.record({ ...access, metadata: { ...access.metadata, name: 'coco' } }, 'Warning', 'StoreNotFound', 'm');
    expect(created).toHaveLength(3);

    clock.advance(10 * 60_000);
    await recorder.record(access, 'Warning', 'StoreNotFound', 'm');
    expect(created).toHaveLength(4);
  });

  it('puts events about cluster-scoped objects in default and truncates long messages', async () => {
    const { recorder, created } = setup();
    const store = { apiVersion: 'valet.dev/v1alpha1', kind: 'ClusterDatasetStore', metadata: { name: 'shared' } };
    await recorder.record(store, 'Normal', 'Ready', 'x'.repeat(5_000));
    expect(created[0]?.metadata.namespace).toBe('default');
    expect(created[0]?.involvedObject.namespace).toBeUndefined();
    expect(created[0]?.message).toHaveLength(1024);
  });

  it('logs and does not throw when the API refuses, and tries again next time', async () => {
    const { recorder, logger } = setup(true);
    await expect(recorder.record(access, 'Normal', 'Ready', 'ok')).resolves.toBeUndefined();
    await recorder.record(access, 'Normal', 'Ready', 'ok');
    expect(logger.lines.filter((l) => l.msg === 'recording an event failed')).toHaveLength(2);
  });
});
