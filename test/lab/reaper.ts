// Finds processes that a lab run started, by the VALET_LAB_RUN marker in their environment, so that
// a run can prove it left nothing behind (and clean up if a test crashed mid-way).
import { readdirSync, readFileSync } from 'node:fs';

export interface FoundProcess {
  pid: number;
  command: string;
}

export function findRunProcesses(run: string): FoundProcess[] {
  const marker = `VALET_LAB_RUN=${run}`;
  const out: FoundProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (!env.includes(marker)) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
      // Test workers inherit the marker too; only the lab's servers count.
      if (/(kube-apiserver|etcd|minio|valet-lab|kube-controller-manager|kube-scheduler)/.test(cmd)) out.push({ pid, command: cmd });
    } catch {
      // exited, or not ours to read
    }
  }
  return out;
}
