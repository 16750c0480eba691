// Errors that carry where the bad input is, so the CLI can say file:line and what to fix.

/** Bad input from a user, a playbook, a step or a rule file: exit code 2. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly where: { file?: string; line?: number; field?: string } = {},
  ) {
    super(message);
    this.name = 'InputError';
  }

  override toString(): string {
    const { file, line, field } = this.where;
    const at = file ? `${file}${line ? `:${line}` : ''}: ` : '';
    return `${at}${field ? `${field}: ` : ''}${this.message}`;
  }
}

/** Several input errors found in one pass, reported together. */
export class InputErrors extends Error {
  constructor(readonly errors: InputError[]) {
    super(errors.map((e) => e.toString()).join('\n'));
    this.name = 'InputErrors';
  }
}

/** Runs `fn`; input errors it throws join `into` (so one pass reports them all), others propagate. */
export function gatherInputErrors(into: InputError[], fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof InputErrors) into.push(...e.errors);
    else if (e instanceof InputError) into.push(e);
    else throw e;
  }
}

export function isInputError(e: unknown): e is InputError | InputErrors {
  return e instanceof InputError || e instanceof InputErrors;
}
