// prom-client's metric classes, loaded from their own files rather than from the package's index.
// The index also loads collectDefaultMetrics and its fifteen collectors, which require
// @opentelemetry/api (for exemplars), the Pushgateway (http, https, zlib) and the cluster
// aggregator: ~3.5 MB of resident memory in every sidecar for code it never runs
// (docs/performance.md §6). The classes are the same objects the index exports (one module cache),
// so types, `instanceof` and registries mix freely with code importing 'prom-client'; a unit test
// fails if an upgrade of prom-client (pinned) moves them.
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const load = createRequire(import.meta.url);

export const Registry = load('prom-client/lib/registry') as typeof PromClient.Registry;
export type Registry = PromClient.Registry;
export const Counter = load('prom-client/lib/counter') as typeof PromClient.Counter;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge = load('prom-client/lib/gauge') as typeof PromClient.Gauge;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const Histogram = load('prom-client/lib/histogram') as typeof PromClient.Histogram;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
