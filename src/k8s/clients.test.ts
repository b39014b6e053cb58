// The clients' own requests (Events created from plain JSON) against a real HTTP server.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { K8sClients } from './clients.ts';
import { startLocalApiServer } from './testdata/local-api-server.ts';
import type { LocalApiServer, RecordedRequest } from './testdata/local-api-server.ts';
import { FakeClock } from '../platform/clock.ts';
import { EventRecorder } from './events.ts';

let api: LocalApiServer | undefined;
let clients: K8sClients;
let answer: { status: number; body: string } = { status: 201, body: '' };
let requests: RecordedRequest[] = [];

beforeAll(async () => {
  api = await startLocalApiServer((_req, res) => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body));
  ({ clients, requests } = api);
});

afterAll(() => api?.close());

beforeEach(() => {
  requests.length = 0;
});

const access = { apiVersion: 'valet.dev/v1alpha1', kind: 'DatasetAccess', metadata: { name: 'imagenet', namespace: 'team-a', uid: 'u1', resourceVersion: '5' } };

describe('core.createEventNamed (what the EventRecorder uses)', () => {
  it('POSTs the Event as JSON to its namespace and reads back only the name the server gave it', async () => {
    answer = { status: 201, body: JSON.stringify({ kind: 'Event', metadata: { name: 'imagenet.181e', namespace: 'team-a', managedFields: [{ manager: 'x' }] }, count: 1 }) };
    const at = new Date('2026-12-06T00:00:00Z');
    const name = await clients.core.createEventNamed('team-a', { metadata: { generateName: 'imagenet.', namespace: 'team-a' }, involvedObject: { kind: 'DatasetAccess', name: 'imagenet' }, reason: 'Ready', firstTimestamp: at });
    expect(name).toBe('imagenet.181e');
    const [req] = requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/api/v1/namespaces/team-a/events');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers.authorization).toBe('Bearer not-a-secret');
    // Timestamps as the API server wants them (what client-node's serializer writes for a Date).
    expect(JSON.parse(req?.body ?? '')).toEqual({ metadata: { generateName: 'imagenet.', namespace: 'team-a' }, involvedObject: { kind: 'DatasetAccess', name: 'imagenet' }, reason: 'Ready', firstTimestamp: '2026-12-06T00:00:00.000Z' });
  });

  it('rejects with the HTTP status and the server message on a failure', async () => {
    answer = { status: 403, body: JSON.stringify({ kind: 'Status', status: 'Failure', message: 'events is forbidden', code: 403 }) };
    const err = await clients.core.createEventNamed('team-a', { metadata: {}, involvedObject: {} }).catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(403);
    expect((err as Error).message).toContain('events is forbidden');
  });

  it('is how an EventRecorder over these clients creates Events, and the name it keeps is the one used to bump the count', async () => {
    answer = { status: 201, body: JSON.stringify({ metadata: { name: 'imagenet.7', namespace: 'team-a' } }) };
    const clock = new FakeClock();
    const recorder = new EventRecorder({ core: clients.core, clock, countUpdateIntervalMs: 1 });
    await recorder.record(access, 'Normal', 'Ready', 'ok');
    clock.advance(10);
    answer = { status: 200, body: '{}' };
    await recorder.record(access, 'Normal', 'Ready', 'ok');
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /api/v1/namespaces/team-a/events', 'PATCH /api/v1/namespaces/team-a/events/imagenet.7']);
  });
});
