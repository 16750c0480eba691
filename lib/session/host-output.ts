// What reached a host's own stdout/stderr besides the step's summary goes into the run result and
// the custody log; a runaway step must not put megabytes there.
const HOST_OUTPUT_LIMIT = 64 * 1024;

export function boundHostOutput(text: string): string {
  return text.length > HOST_OUTPUT_LIMIT ? text.slice(0, HOST_OUTPUT_LIMIT) + '\n[truncated]' : text;
}
