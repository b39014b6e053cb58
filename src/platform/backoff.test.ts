import { describe, expect, it } from 'vitest';
import { addedJitter, cappedExponential, equalJitter } from './backoff.ts';

const b = { baseMs: 100, maxMs: 1000 };

describe('backoff', () => {
  it('doubles per retry from the base, up to the cap', () => {
    expect([0, 1, 2, 3, 4, 10, 500].map((n) => cappedExponential(n, b))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('equal jitter: half the capped delay fixed, the other half at random', () => {
    expect([0, 1, 2, 3, 4, 10].map((n) => equalJitter(n, b, 0))).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4, 10].map((n) => equalJitter(n, b, 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(equalJitter(2, b, 0.5)).toBe(300);
  });

  it('added jitter: up to the given share on top, never above the cap', () => {
    expect([0, 1, 2, 3].map((n) => addedJitter(n, b, 0.2, 0))).toEqual([100, 200, 400, 800]);
    expect([0, 1, 2, 3].map((n) => addedJitter(n, b, 0.2, 1))).toEqual([120, 240, 480, 960]);
    expect(addedJitter(3, b, 0.5, 1)).toBe(1000);
  });
});
