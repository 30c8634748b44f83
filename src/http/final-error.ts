/**
 * Errors no retry layer should repeat. Two kinds: failures another attempt cannot heal (a registry name that does
 * not resolve, a redirect loop), and failures a lower layer already spent the request's retries on. Without the
 * mark, each layer that retries (the HTTP retry middleware, a body re-read, an upload restart, a token fetch under
 * the request it authorises) multiplied the others: 4 × 4 = 16 attempts for one GET with the default 3 retries.
 * A mark on the error (or on a response the retry layer gave up on) rather than a new code: the message and code
 * the user sees stay what they were.
 */
const finalErrors = new WeakSet<object>();
const spentResponses = new WeakSet<object>();

/** Marks `e` (an error object) as final and returns it. */
export function markFinal<E>(e: E): E {
  if (typeof e === 'object' && e !== null) finalErrors.add(e);
  return e;
}

/** True when `e`, or an error it wraps (`cause`), is marked final. */
export function isFinal(e: unknown): boolean {
  for (let x = e, depth = 0; typeof x === 'object' && x !== null && depth < 8; x = (x as { cause?: unknown }).cause, depth++) {
    if (finalErrors.has(x)) return true;
  }
  return false;
}

/** Marks a response the retry layer answered with after its last attempt: an error made from it is final. */
export function markSpent<R extends object>(res: R): R {
  spentResponses.add(res);
  return res;
}

export function isSpent(res: object): boolean {
  return spentResponses.has(res);
}
