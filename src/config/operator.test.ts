import { describe, expect, it } from 'vitest';
import { parseOperatorConfig } from './operator.ts';

describe('operator configuration', () => {
  it('has the documented defaults (golden)', () => {
    expect(parseOperatorConfig(['--tls-cert-file=/tls/tls.crt', '--tls-key-file=/tls/tls.key'], { POD_NAME: 'valet-operator-abc', POD_NAMESPACE: 'valet-system' })).toMatchInlineSnapshot(`
      {
        "identity": "valet-operator-abc",
        "issuerAddress": "0.0.0.0:8443",
        "kubeconfig": "",
        "leaderElect": true,
        "leaseDurationSeconds": 15,
        "leaseName": "valet-operator",
        "logLevel": "info",
        "metricsAddress": "0.0.0.0:9090",
        "namespace": "valet-system",
        "renewDeadlineSeconds": 10,
        "requestTimeoutSeconds": 10,
        "resyncSeconds": 600,
        "retryPeriodSeconds": 2,
        "stsBurst": 40,
        "stsRatePerSecond": 20,
        "tlsCertFile": "/tls/tls.crt",
        "tlsCheckIntervalSeconds": 30,
        "tlsDnsNames": [],
        "tlsKeyFile": "/tls/tls.key",
        "tlsSecret": "",
        "webhookConfigurationName": "valet",
        "workers": 4,
      }
    `);
  });

  it('reads flags in both --flag=value and --flag value forms, and bare booleans', () => {
    const c = parseOperatorConfig(['--issuer-address=', '--workers=2', '--namespace', 'ops', '--leader-elect', '--log-level=debug']);
    expect(c).toMatchObject({ workers: 2, namespace: 'ops', leaderElect: true, logLevel: 'debug' });
    expect(parseOperatorConfig(['--issuer-address=', '--leader-elect=false']).leaderElect).toBe(false);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('manages its own certificate with --tls-secret, named for its Service unless told otherwise', () => {
    const c = parseOperatorConfig(['--tls-secret=valet-tls', '--namespace=ops']);
    expect(c.tlsDnsNames).toEqual(['valet.ops.svc', 'valet.ops.svc.cluster.local']);
    expect(parseOperatorConfig(['--tls-secret=valet-tls', '--tls-dns-names=a.b.svc, c.d.svc']).tlsDnsNames).toEqual(['a.b.svc', 'c.d.svc']);
    expect(() => parseOperatorConfig(['--tls-secret=s', '--tls-cert-file=/x', '--tls-key-file=/y'])).toThrow(/either --tls-secret .* not both/);
  });

  it('names the flag that is wrong', () => {
    expect(() => parseOperatorConfig(['--wrokers=2'])).toThrow(/unknown flag --wrokers/);
    expect(() => parseOperatorConfig([])).toThrow(/the issuer serves only over TLS: give --tls-cert-file and --tls-key-file/);
    expect(() => parseOperatorConfig(['--issuer-address=', '--workers=two'])).toThrow(/--workers must be a whole number, got 'two'/);
    expect(() => parseOperatorConfig(['--issuer-address=', '--workers=0'])).toThrow(/--workers must be between 1 and 64/);
    expect(() => parseOperatorConfig(['--issuer-address=', '--lease-duration-seconds=5'])).toThrow(/--renew-deadline-seconds must be less than --lease-duration-seconds/);
    expect(() => parseOperatorConfig(['--issuer-address=', '--log-level=loud'])).toThrow(/--log-level must be/);
    expect(() => parseOperatorConfig(['--namespace'])).toThrow(/--namespace needs a value/);
  });
});
