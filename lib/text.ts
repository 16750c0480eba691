// Text from a host is untrusted: it must not drive the responder's terminal.

/** Makes control characters (ESC, BEL, C1, bidi overrides) visible as \xNN / \u{...} escapes; keeps \n and \t. */
export function safeText(s: string, keepNewlines = true): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]|\n|\t/g, (c) => {
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
