import { describe, expect, it } from 'vitest';
import { OPERATOR_COMMAND } from './operator.ts';
import { parseConfig } from './parse.ts';
import { parseWebhookConfig } from './webhook.ts';

const REQUIRED = ['--webhook-tls-cert-file=/tls/tls.crt', '--webhook-tls-key-file=/tls/tls.key', '--sidecar-image=ghcr.io/valet/valet:0.1.0', '--sidecar-issuer-url=https://valet-issuer.valet-system.svc:8443'];

describe('webhook configuration', () => {
  it('has the documented defaults (golden)', () => {
    expect(parseWebhookConfig(REQUIRED)).toMatchInlineSnapshot(`
      {
        "address": "0.0.0.0:9443",
        "clientCaFile": "",
        "injection": {
          "image": "ghcr.io/valet/valet:0.1.0",
          "imagePullPolicy": "IfNotPresent",
          "issuerCaConfigMap": "valet-issuer-ca",
          "issuerCaKey": "ca.crt",
          "issuerUrl": "https://valet-issuer.valet-system.svc:8443",
          "metricsPort": 8761,
          "port": 8760,
          "resources": {
            "limits": {
              "cpu": "500m",
              "memory": "256Mi",
            },
            "requests": {
              "cpu": "10m",
              "memory": "64Mi",
            },
          },
          "runAsUser": 65532,
          "sharedVolumeSizeLimit": "16Mi",
          "startupTimeoutSeconds": 300,
          "tokenExpirationSeconds": 3600,
        },
        "maxBodyBytes": 4194304,
        "servesOperatorTls": false,
        "timeoutSeconds": 5,
        "tlsCertFile": "/tls/tls.crt",
        "tlsKeyFile": "/tls/tls.key",
      }
    `);
  });

  it('reads both flag forms, the environment for image and issuer URL (a flag wins), and freezes deeply', () => {
    const c = parseWebhookConfig(['--webhook-address=', '--sidecar-port', '9000', '--sidecar-memory-limit=512Mi', '--sidecar-issuer-url=https://flag.example:8443'], {
      VALET_SIDECAR_IMAGE: 'valet:env',
      VALET_SIDECAR_ISSUER_URL: 'https://env.example:8443',
    });
    expect(c.injection).toMatchObject({ port: 9000, image: 'valet:env', issuerUrl: 'https://flag.example:8443', resources: { limits: { memory: '512Mi' } } });
    expect(Object.isFrozen(c.injection.resources.limits)).toBe(true);
  });

  it('is read with the operator\'s flags on one command line, and serves with the operator\'s certificate unless given its own', () => {
    const argv = ['--namespace', 'ops', '--webhook-address', '127.0.0.1:9443', '--issuer-address=', '--sidecar-image=valet:1', '--leader-elect', '--sidecar-issuer-url=https://i.example', '--tls-cert-file=/op.crt', '--tls-key-file', '/op.key'];
    const { operator, webhook } = parseConfig(OPERATOR_COMMAND, argv);
    expect(operator).toMatchObject({ namespace: 'ops', issuerAddress: '', leaderElect: true, tlsCertFile: '/op.crt' });
    expect(webhook).toMatchObject({ address: '127.0.0.1:9443', tlsCertFile: '/op.crt', tlsKeyFile: '/op.key', injection: { image: 'valet:1' } });
    const own = parseConfig(OPERATOR_COMMAND, [...argv, '--webhook-tls-cert-file=/c', '--webhook-tls-key-file', '/k']);
    expect(own.webhook).toMatchObject({ tlsCertFile: '/c', tlsKeyFile: '/k' });
    const managed = parseConfig(OPERATOR_COMMAND, ['--tls-secret=valet-tls', '--sidecar-image=valet:1', '--sidecar-issuer-url=https://i.example']);
    expect(managed.webhook).toMatchObject({ servesOperatorTls: true, tlsCertFile: '', tlsKeyFile: '' });
  });

  it('names the flag that is wrong', () => {
    const off = '--webhook-address=';
    expect(() => parseWebhookConfig([])).toThrow(/the webhook serves only over TLS: give --webhook-tls-cert-file/);
    expect(() => parseWebhookConfig(REQUIRED.filter((a) => !a.startsWith('--sidecar-image')))).toThrow(/give --sidecar-image \(or VALET_SIDECAR_IMAGE\)/);
    expect(() => parseWebhookConfig(REQUIRED.filter((a) => !a.startsWith('--sidecar-issuer-url')))).toThrow(/give --sidecar-issuer-url/);
    expect(() => parseWebhookConfig([off, '--sidecar-issuer-url=http://plain.example'])).toThrow(/--sidecar-issuer-url must use https/);
    expect(() => parseWebhookConfig([off, '--sidecar-port=8761'])).toThrow(/--sidecar-port and --sidecar-metrics-port must differ/);
    expect(() => parseWebhookConfig([off, '--sidecar-port=70000'])).toThrow(/--sidecar-port must be between 1 and 65535/);
    expect(() => parseWebhookConfig([off, '--sidecar-run-as-user=0'])).toThrow(/non-root/);
    expect(() => parseWebhookConfig([off, '--sidecar-token-expiration-seconds=60'])).toThrow(/between 600 and 86400/);
    expect(() => parseWebhookConfig([off, '--sidecar-memory-limit=lots'])).toThrow(/--sidecar-memory-limit must be a Kubernetes quantity/);
    expect(() => parseWebhookConfig([off, '--sidecar-image-pull-policy=Sometimes'])).toThrow(/--sidecar-image-pull-policy must be Always/);
    expect(() => parseWebhookConfig([off, '--issuer-ca-configmap=Not_A_Name'])).toThrow(/--issuer-ca-configmap must be a ConfigMap name/);
    expect(() => parseWebhookConfig([off, '--webhook-timeout-seconds=31'])).toThrow(/between 1 and 30/);
    expect(() => parseWebhookConfig([off, '--webhook-adress=x'])).toThrow(/unknown flag --webhook-adress/);
    expect(() => parseWebhookConfig([off, '--sidecar-port'])).toThrow(/--sidecar-port needs a value/);
  });
});
