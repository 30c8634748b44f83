// The error a promise rejects with, for assertions on its code and message; fails the test if it resolves.
import type { StowageError } from '../../src/errors.js';

export async function rejection(p: Promise<unknown>): Promise<StowageError> {
  try {
    await p;
  } catch (e) {
    return e as StowageError;
  }
  throw new Error('expected a rejection');
}
