// Every call to a target has a deadline: a host that stops answering must cost a known time, not a hang.

/** Resolves or rejects with `p`, or rejects with `onTimeout()` after `ms`. */
export function withDeadline<T>(p: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/** A timer that fires `onIdle` when `touch()` has not been called for `ms`: for transfers that may take long but must keep moving. */
export function idleTimer(ms: number, onIdle: () => void): { touch(): void; stop(): void } {
  let timer = setTimeout(onIdle, ms);
  return {
    touch() {
      clearTimeout(timer);
      timer = setTimeout(onIdle, ms);
    },
    stop() {
      clearTimeout(timer);
    },
  };
}
