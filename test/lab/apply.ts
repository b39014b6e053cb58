// `kubectl apply -f` for the lab: create (or update) every object in YAML files, and wait for CRDs
// to be Established before anything uses them.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ApiextensionsV1Api, KubernetesObjectApi, loadAllYaml, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

/**
 * Objects from YAML files, deserialized into client-node's model classes. This matters: client-node
 * serializes a known kind through its model, which knows `enum` as `_enum`, `default` as
 * `_default` and so on; a plain parsed object would lose those fields on the way to the server.
 */
export function readObjects(path: string): KubernetesObject[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  return files.flatMap((f) => (loadAllYaml(readFileSync(f, 'utf8')) as (KubernetesObject | null)[]).filter((o): o is KubernetesObject => o !== null && typeof o === 'object'));
}

export async function apply(kc: KubeConfig, objects: readonly KubernetesObject[]): Promise<KubernetesObject[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const out: KubernetesObject[] = [];
  for (const obj of objects) {
    try {
      out.push(await api.create(obj));
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
      const current = await api.read(obj as KubernetesObject & { metadata: { name: string } });
      out.push(await api.replace({ ...obj, metadata: { ...obj.metadata, resourceVersion: current.metadata?.resourceVersion } }));
    }
  }
  return out;
}

export async function installCrds(kc: KubeConfig, dir: string, timeoutMs = 30_000): Promise<void> {
  const objects = readObjects(dir);
  await apply(kc, objects);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  const deadline = Date.now() + timeoutMs;
  for (const crd of objects) {
    const name = crd.metadata?.name ?? '';
    for (;;) {
      const got = await ext.readCustomResourceDefinition({ name });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established within ${timeoutMs / 1000}s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
