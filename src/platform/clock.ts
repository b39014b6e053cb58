// Time is injected (STYLE.md habit 3): domain code takes a Clock; tests pass a fake one.
export interface Clock {
  /** Wall-clock milliseconds since the epoch. */
  now(): number;
  /** Monotonic milliseconds from an arbitrary origin: for timers and intervals, immune to clock steps. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};

/** A clock that moves only when told to. */
export class FakeClock implements Clock {
  private wall: number;
  private mono = 0;

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.wall = start;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  advance(ms: number): void {
    this.wall += ms;
    this.mono += ms;
  }
}
