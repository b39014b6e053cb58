import { describe, expect, it } from 'vitest';
import { createLogger, redactText } from './logger.ts';

// Every provider's secret values, under the field names the code really uses for them.
const SECRETS = {
  s3Store: { accessKeyId: 'AKIDPUBLIC', secretAccessKey: 'S3-SECRET-KEY-1' },
  sts: { AccessKeyId: 'ASIAPUBLIC', SecretAccessKey: 'STS-SECRET-2', SessionToken: 'STS-SESSION-3', Expiration: '2026-01-01T00:00:00Z' },
  azure: { kind: 'azureAccountKey', accountKey: 'AZURE-ACCOUNT-KEY-4' },
  gcsServiceAccount: { kind: 'gcsServiceAccount', clientEmail: 'signer@p.iam.gserviceaccount.com', privateKeyPem: 'GCS-PEM-5' },
  gcsJson: { type: 'service_account', client_email: 'signer@p.iam.gserviceaccount.com', private_key: 'GCS-JSON-KEY-6', private_key_id: 'GCS-KEY-ID-7' },
  gcsHmac: { kind: 'gcsHmac', accessId: 'GOOG1EPUBLIC', secret: 'GCS-HMAC-8' },
  kube: { authorization: 'Bearer KUBE-TOKEN-9', token: 'KUBE-TOKEN-10', authToken: 'SIDECAR-AUTH-11' },
  sas: { sig: 'AZURE-SIG-12' },
};
const SECRET_VALUES = ['S3-SECRET-KEY-1', 'STS-SECRET-2', 'STS-SESSION-3', 'AZURE-ACCOUNT-KEY-4', 'GCS-PEM-5', 'GCS-JSON-KEY-6', 'GCS-KEY-ID-7', 'GCS-HMAC-8', 'KUBE-TOKEN-9', 'KUBE-TOKEN-10', 'SIDECAR-AUTH-11', 'AZURE-SIG-12'];

describe('the logger redacts', () => {
  it("every provider's secret fields, nested or not, and keeps what is not secret", () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.info('keys', { ...SECRETS, nested: { deeper: SECRETS } });
    log.child(SECRETS.kube).warn('child bindings too');
    const text = lines.join('\n');
    for (const v of SECRET_VALUES) expect(text, v).not.toContain(v);
    for (const kept of ['AKIDPUBLIC', 'ASIAPUBLIC', 'GOOG1EPUBLIC', 'signer@p.iam.gserviceaccount.com', '2026-01-01T00:00:00Z', 'service_account']) expect(text).toContain(kept);
  });

  it('the credential parts of signed URLs (SigV4, Azure SAS, GOOG4) in any string, message or error', () => {
    const urls = [
      'http://minio:9000/datasets/a?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA%2F20260101&X-Amz-Security-Token=TOK-A&X-Amz-Signature=SIG-A',
      'https://acct.blob.core.windows.net/c/b?sv=2024-11-04&sr=b&sp=r&sig=SIG-B%3D&se=2026-01-01T00%3A00%3A00Z',
      'https://storage.googleapis.com/b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=signer%2F2026&X-Goog-Signature=SIG-C',
    ];
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l) });
    log.info(`signed ${urls[0]}`, { url: urls[1], list: [urls[2]], error: new Error(`failed at ${urls[1]}`) });
    const text = lines.join('\n');
    for (const v of ['TOK-A', 'SIG-A', 'SIG-B', 'SIG-C', 'ASIA%2F', 'signer%2F']) expect(text, v).not.toContain(v);
    expect(text).toContain('sr=b&sp=r');
    expect(redactText('no url here')).toBe('no url here');
  });
});
