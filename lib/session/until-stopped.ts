// A step's reply raced against its timeout and the operator's abort, for every transport.

export type Settled<T> = { reply: T } | { error: Error };

/**
 * Waits for `work` (or any of `others`) unless the step's time runs out or the run is aborted
 * first; never rejects. The abort listener is removed again: one per step would pile up on a
 * long playbook's shared signal.
 */
export async function untilStopped<T, O = never>(work: Promise<T>, timeoutMs: number, signal?: AbortSignal, ...others: Promise<O>[]): Promise<Settled<T> | O | 'timeout' | 'aborted'> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  const stopped = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    onAbort = () => resolve('aborted');
    if (signal?.aborted) resolve('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const settled = work.then(
    (reply): Settled<T> => ({ reply }),
    (error: Error): Settled<T> => ({ error }),
  );
  try {
    return await Promise.race([settled, stopped, ...others]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}
