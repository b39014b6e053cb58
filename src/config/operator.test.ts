import { describe, expect, it } from 'vitest';
import { parseOperatorConfig } from './operator.ts';

describe('operator configuration', () => {
  it('has the documented defaults (golden)', () => {
    expect(parseOperatorConfig([], { POD_NAME: 'valet-operator-abc', POD_NAMESPACE: 'valet-system' })).toMatchInlineSnapshot(`
      {
        "identity": "valet-operator-abc",
        "kubeconfig": "",
        "leaderElect": true,
        "leaseDurationSeconds": 15,
        "leaseName": "valet-operator",
        "logLevel": "info",
        "metricsAddress": "0.0.0.0:9090",
        "namespace": "valet-system",
        "renewDeadlineSeconds": 10,
        "resyncSeconds": 600,
        "retryPeriodSeconds": 2,
        "workers": 4,
      }
    `);
  });

  it('reads flags in both --flag=value and --flag value forms, and bare booleans', () => {
    const c = parseOperatorConfig(['--workers=2', '--namespace', 'ops', '--leader-elect', '--log-level=debug']);
    expect(c).toMatchObject({ workers: 2, namespace: 'ops', leaderElect: true, logLevel: 'debug' });
    expect(parseOperatorConfig(['--leader-elect=false']).leaderElect).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('names the flag that is wrong', () => {
    expect(() => parseOperatorConfig(['--wrokers=2'])).toThrow(/unknown flag --wrokers/);
    expect(() => parseOperatorConfig(['--workers=two'])).toThrow(/--workers must be a whole number, got 'two'/);
    expect(() => parseOperatorConfig(['--workers=0'])).toThrow(/--workers must be between 1 and 64/);
    expect(() => parseOperatorConfig(['--lease-duration-seconds=5'])).toThrow(/--renew-deadline-seconds must be less than --lease-duration-seconds/);
    expect(() => parseOperatorConfig(['--log-level=loud'])).toThrow(/--log-level must be/);
    expect(() => parseOperatorConfig(['--namespace'])).toThrow(/--namespace needs a value/);
  });
});
