// Text from a host is untrusted: it must not drive the responder's terminal.

const secrets = new Set<string>();

/** Registers a secret (a password): every text that passes through safeText shows it as [redacted]. */
export function registerSecret(secret: string): string {
  if (secret.length >= 1) secrets.add(secret);
  return secret;
}

/** Replaces every registered secret in `s`. */
export function redactSecrets(s: string): string {
  for (const secret of secrets) if (s.includes(secret)) s = s.split(secret).join('[redacted]');
  return s;
}

/** Makes control characters (ESC, BEL, C1, bidi overrides) visible as \xNN / \u{...} escapes; keeps \n and \t. Secrets are redacted. */
export function safeText(s: string, keepNewlines = true): string {
  return redactSecrets(s).replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]|\n|\t/g, (c) => {
    if (c === '\n') return keepNewlines ? c : '\\n';
    if (c === '\t') return keepNewlines ? c : '\\t';
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}

/** One line, bounded, safe: for status lines and error reasons. */
export function safeLine(s: string, max = 300): string {
  const one = safeText(s, false);
  return one.length > max ? one.slice(0, max) + '…' : one;
}

/** pwsh writes console-mode escapes (ESC[?1h ESC[?1l) around output when its stdout is a pipe. */
export function stripConsoleModes(s: string): string {
  return s.replace(/\u001b\[\?1[hl]/g, '');
}
