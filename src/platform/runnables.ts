// A small runnable manager (controller-runtime's Manager, in miniature): parts start in the order
// added, the whole is ready when every part is, and stopping runs in reverse order within one
// bound, so a part that hangs cannot keep the process from exiting.
import type { Logger } from './logger.ts';

export interface Runnable {
  readonly name: string;
  /** Starts the part; resolves once it is running (listening, informers started). */
  start(): Promise<void> | void;
  /** Whether the part can take work; absent means ready once started. */
  ready?(): boolean;
  /** Stops the part; resolves once it has. */
  stop(): Promise<void> | void;
}

export interface StopReport {
  /** Parts that did not stop within the bound (left behind, named in the log). */
  timedOut: string[];
  /** Parts whose stop threw. */
  failed: string[];
}

export class RunnableManager {
  private readonly parts: Runnable[] = [];
  private readonly started: Runnable[] = [];
  private readonly logger: Logger | undefined;

  constructor(logger?: Logger) {
    this.logger = logger;
  }

  add(part: Runnable): void {
    this.parts.push(part);
  }

  /** Starts every part in order. If one fails, the ones started are stopped (in reverse) and the error is thrown. */
  async start(stopTimeoutMs = 10_000): Promise<void> {
    for (const part of this.parts) {
      try {
        await part.start();
        this.started.push(part);
      } catch (err) {
        this.logger?.error('a part failed to start; stopping the others', { part: part.name, error: err instanceof Error ? err.message : String(err) });
        await this.stop(stopTimeoutMs);
        throw err;
      }
    }
  }

  /** Names of the parts not (yet) ready: not started, or started and saying not ready. Empty: ready. */
  notReady(): string[] {
    return this.parts.filter((p) => !this.started.includes(p) || (p.ready ? !p.ready() : false)).map((p) => p.name);
  }

  ready(): boolean {
    return this.notReady().length === 0;
  }

  /** Stops one started part, the others running on (an outage a test makes, say). */
  async stopPart(name: string): Promise<void> {
    const part = this.started.find((p) => p.name === name);
    if (!part) throw new Error(`no started part named ${JSON.stringify(name)}`);
    this.started.splice(this.started.indexOf(part), 1);
    await part.stop();
  }

  /** Starts a part stopped by stopPart again; it stops with the others, in its place in the order. */
  async startPart(name: string): Promise<void> {
    const part = this.parts.find((p) => p.name === name);
    if (!part) throw new Error(`no part named ${JSON.stringify(name)}`);
    if (this.started.includes(part)) throw new Error(`part ${JSON.stringify(name)} is running`);
    await part.start();
    this.started.push(part);
    this.started.sort((a, b) => this.parts.indexOf(a) - this.parts.indexOf(b));
  }

  /** Stops the started parts in reverse order, all within `timeoutMs` together. */
  async stop(timeoutMs: number): Promise<StopReport> {
    const deadline = performance.now() + timeoutMs;
    const report: StopReport = { timedOut: [], failed: [] };
    for (const part of this.started.splice(0).reverse()) {
      const left = Math.max(0, deadline - performance.now());
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = await Promise.race([
        Promise.resolve()
          .then(() => part.stop())
          .then(
            () => 'stopped' as const,
            (err: unknown) => {
              this.logger?.warn('a part failed to stop', { part: part.name, error: err instanceof Error ? err.message : String(err) });
              return 'failed' as const;
            },
          ),
        new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), left))),
      ]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        report.timedOut.push(part.name);
        this.logger?.warn('a part did not stop in time; leaving it', { part: part.name, boundMs: timeoutMs });
      } else if (outcome === 'failed') report.failed.push(part.name);
    }
    return report;
  }
}
