import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createControllerMetrics } from './controller.ts';

describe('controller metrics', () => {
  it('registers on the given registry only, so two sets can coexist', async () => {
    const a = new Registry();
    const b = new Registry();
    const m = createControllerMetrics(a);
    createControllerMetrics(b);
    m.reconciles.inc({ kind: 'DatasetAccess', result: 'written' });
    m.reconcileErrors.inc({ kind: 'DatasetAccess' });
    m.informerRestarts.inc({ informer: 'datasetaccesses' });
    m.leader.set(1);
    m.reconcileSeconds.startTimer({ kind: 'DatasetAccess' })();
    const text = await a.metrics();
    expect(text).toContain('valet_controller_reconciles_total{kind="DatasetAccess",result="written"} 1');
    expect(text).toContain('valet_controller_reconcile_errors_total{kind="DatasetAccess"} 1');
    expect(text).toContain('valet_controller_informer_restarts_total{informer="datasetaccesses"} 1');
    expect(text).toContain('valet_controller_leader 1');
    expect(text).toContain('valet_controller_reconcile_duration_seconds_count{kind="DatasetAccess"} 1');
    expect(await b.metrics()).toContain('valet_controller_leader 0');
  });

  it('reads the queue depth at scrape time', async () => {
    const registry = new Registry();
    const m = createControllerMetrics(registry);
    let depth = 3;
    m.trackQueueDepth(() => depth);
    expect(await registry.metrics()).toContain('valet_controller_workqueue_depth 3');
    depth = 0;
    expect(await registry.metrics()).toContain('valet_controller_workqueue_depth 0');
  });

  it('counts accesses by provider and Ready status at scrape time', async () => {
    const registry = new Registry();
    const m = createControllerMetrics(registry);
    let list = [
      { provider: 's3', ready: 'True' },
      { provider: 'azureBlob', ready: 'True' },
      { provider: 'azureBlob', ready: 'True' },
      { provider: 'unknown', ready: 'False' },
    ];
    m.trackAccesses(() => list);
    let text = await registry.metrics();
    expect(text).toContain('valet_controller_accesses{provider="azureBlob",ready="True"} 2');
    expect(text).toContain('valet_controller_accesses{provider="s3",ready="True"} 1');
    expect(text).toContain('valet_controller_accesses{provider="unknown",ready="False"} 1');
    list = [{ provider: 'gcs', ready: 'Unknown' }];
    text = await registry.metrics();
    expect(text).toContain('valet_controller_accesses{provider="gcs",ready="Unknown"} 1');
    expect(text).not.toContain('provider="azureBlob"');
  });
});
