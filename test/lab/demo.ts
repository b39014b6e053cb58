// `npm run demo`: until the full end-to-end demo lands (issue 6), start the lab, show what runs and
// what it can do, and stop everything.
import { cleanEnv, startLab } from './index.ts';

export async function demo(): Promise<number> {
  const lab = await startLab();
  try {
    const v = await lab.versions();
    const out = (s: string) => process.stdout.write(s + '\n');
    out('Valet lab: real servers on loopback');
    out(`  kube-apiserver ${v.kubeApiserver}  https://127.0.0.1:${lab.ports.apiserver}  (etcd ${v.etcd})`);
    out(`  MinIO ${v.minio}  ${lab.s3.endpoint}  bucket ${lab.s3.bucket}`);
    out(`  clients: node ${v.node}, boto3 ${v.boto3}, awscli ${v.awscli}`);
    const ls = await lab.aws(['s3', 'ls', `s3://${lab.s3.bucket}/`, '--recursive'], cleanEnv({
      AWS_ACCESS_KEY_ID: lab.s3.issuer.accessKeyId,
      AWS_SECRET_ACCESS_KEY: lab.s3.issuer.secretAccessKey,
      AWS_REGION: lab.s3.region,
      AWS_ENDPOINT_URL_S3: lab.s3.endpoint,
    }));
    out('Seeded objects (awscli, with the issuer\'s lab key):');
    out(ls.stdout.trimEnd().replace(/^/gm, '  '));
    return ls.code;
  } finally {
    await lab.stop();
    process.stdout.write('Lab stopped; nothing left running.\n');
  }
}
