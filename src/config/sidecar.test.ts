import { describe, expect, it } from 'vitest';
import { envName, parseSidecarConfig, SIDECAR_OPTIONS } from './sidecar.ts';

const URL_FLAG = '--issuer-url=https://valet-issuer.valet-system.svc:8443';

describe('sidecar configuration', () => {
  it('has the documented defaults (golden)', () => {
    expect(parseSidecarConfig([URL_FLAG])).toMatchInlineSnapshot(`
      {
        "accesses": [],
        "authTokenFile": "/var/run/valet/shared/auth-token",
        "authTokenFileMode": 420,
        "clockSkewWarnSeconds": 30,
        "defaultAccess": "",
        "expiryMarginSeconds": 60,
        "gracePeriodSeconds": 0,
        "issuerCaFile": "/var/run/valet/issuer-ca/ca.crt",
        "issuerUrl": "https://valet-issuer.valet-system.svc:8443",
        "loaderUrlSeconds": 60,
        "logLevel": "info",
        "manifestExpirySeconds": 3600,
        "manifests": [],
        "metricsAddress": "0.0.0.0:8761",
        "podAuthToken": "",
        "port": 8760,
        "presignDefaultExpirySeconds": 3600,
        "refreshFraction": 0.5,
        "refreshJitter": 0.1,
        "requestTimeoutSeconds": 10,
        "retryBaseSeconds": 1,
        "retryMaxSeconds": 30,
        "tokenFile": "/var/run/secrets/valet.dev/serviceaccount/token",
      }
    `);
  });

  it('reads the environment, and flags win over it', () => {
    const env = { VALET_ISSUER_URL: 'https://issuer:8443', VALET_ACCESSES: 'imagenet, checkpoints', VALET_REFRESH_FRACTION: '0.25', VALET_MANIFEST: 'imagenet=/shared/a.jsonl;imagenet=/shared/b.txt,format=urls' };
    const c = parseSidecarConfig(['--refresh-fraction', '0.1', '--auth-token-file-mode=0640'], env);
    expect(c).toMatchObject({ issuerUrl: 'https://issuer:8443', accesses: ['imagenet', 'checkpoints'], refreshFraction: 0.1, authTokenFileMode: 0o640 });
    expect(c.manifests).toEqual([
      { access: 'imagenet', path: '/shared/a.jsonl', format: 'jsonl' },
      { access: 'imagenet', path: '/shared/b.txt', format: 'urls' },
    ]);
    expect(parseSidecarConfig(['--manifest=imagenet=/x.jsonl'], env).manifests).toEqual([{ access: 'imagenet', path: '/x.jsonl', format: 'jsonl' }]);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.accesses)).toBe(true);
    expect(envName('--grace-period-seconds')).toBe('VALET_GRACE_PERIOD_SECONDS');
  });

  it('has a VALET_* variable for every flag, named after it', () => {
    for (const o of Object.values(SIDECAR_OPTIONS)) if (o.flag) expect(o.env, o.flag).toBe(envName(`--${o.flag}`));
  });

  it('takes the pod token from VALET_POD_AUTH_TOKEN only, and refuses a malformed one without echoing it', () => {
    const token = 'A'.repeat(21) + '-_' + 'z'.repeat(20);
    expect(parseSidecarConfig([URL_FLAG], { VALET_POD_AUTH_TOKEN: token }).podAuthToken).toBe(token);
    expect(parseSidecarConfig([URL_FLAG], { VALET_POD_AUTH_TOKEN: '' }).podAuthToken).toBe('');
    expect(() => parseSidecarConfig([URL_FLAG, `--pod-auth-token=${token}`])).toThrow(/unknown flag --pod-auth-token/);
    let message = '';
    try {
      parseSidecarConfig([URL_FLAG], { VALET_POD_AUTH_TOKEN: 'short-secret-value' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/VALET_POD_AUTH_TOKEN must be 43 base64url characters/);
    expect(message).not.toContain('short-secret-value');
  });

  it('names what is wrong', () => {
    const cases: [string[], RegExp][] = [
      [[], /--issuer-url \(or VALET_ISSUER_URL\) must be the issuer's https:\/\/ URL/],
      [['--issuer-url=http://issuer:8443'], /must use https/],
      [[URL_FLAG, '--refersh-fraction=0.5'], /unknown flag --refersh-fraction/],
      [[URL_FLAG, '--refresh-fraction=1'], /--refresh-fraction must be between 0 and 1/],
      [[URL_FLAG, '--refresh-fraction=0'], /--refresh-fraction must be between 0 and 1/],
      [[URL_FLAG, '--refresh-fraction=half'], /--refresh-fraction must be a number/],
      [[URL_FLAG, '--accesses=Imagenet'], /--accesses must be DatasetAccess names, and 'Imagenet' is not/],
      [[URL_FLAG, '--accesses=a,a'], /lists an access twice/],
      [[URL_FLAG, '--accesses=a', '--default-access=b'], /--default-access 'b' is not one of --accesses/],
      [[URL_FLAG, '--token-file=token'], /--token-file must be an absolute path/],
      [[URL_FLAG, '--auth-token-file-mode=777x'], /octal file mode/],
      [[URL_FLAG, '--manifest=imagenet'], /--manifest must be <access>=<absolute path>/],
      [[URL_FLAG, '--manifest=imagenet=/a,format=csv'], /option 'format=csv' is unknown/],
      [[URL_FLAG, '--expiry-margin-seconds=600'], /at most 300/],
      [[URL_FLAG, '--retry-base-seconds=5', '--retry-max-seconds=1'], /--retry-max-seconds between it and 600/],
      [[URL_FLAG, '--metrics-address=9090'], /--metrics-address must be host:port/],
      [[URL_FLAG, '--log-level=loud'], /--log-level must be/],
      [[URL_FLAG, '--loader-url-seconds=1'], /--loader-url-seconds must be between 5 and 3600/],
      [[URL_FLAG, '--port'], /--port needs a value/],
    ];
    for (const [argv, message] of cases) expect(() => parseSidecarConfig(argv), argv.join(' ')).toThrow(message);
  });
});
