// Kerberos (through SPNEGO, i.e. HTTP Negotiate) for WinRM: the system's GSS-API library (MIT
// krb5's libgssapi_krb5 on Linux) called through koffi. Why not the `kerberos` npm package the
// issue names: its wrap() replaces the caller's data with a 4-byte SASL message (the `user`
// option is never NULL in its C++), its server side has no wrap/unwrap at all, and it has no
// gss_wrap_iov, which is what WinRM's message encryption is (a separate header, RRC=28). Kerberos
// is written by the system library, not by us: only the calls and the buffers are here.
// koffi is an optional dependency with prebuilt binaries in the npm package (no compiler); it is
// loaded only when Kerberos is asked for.
import { createRequire } from 'node:module';

/** Kerberos cannot run here (koffi or the GSS-API library missing, or an OS without one). */
export class GssUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GssUnavailableError';
  }
}

/** A GSS-API call failed; `message` is the library's own text for the major and minor status. */
export class GssError extends Error {
  constructor(
    readonly call: string,
    readonly major: number,
    readonly minor: number,
    text: string,
  ) {
    super(`${call}: ${text}`);
    this.name = 'GssError';
  }
}

type Ptr = unknown;
type Fn = (...args: unknown[]) => number;
interface Buf {
  length?: number | bigint;
  value?: Ptr;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Koffi = any;

const LIBRARIES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['libgssapi_krb5.so.2', 'libgssapi_krb5.so'],
  darwin: ['/System/Library/Frameworks/GSS.framework/GSS'],
  freebsd: ['libgssapi_krb5.so.2', 'libgssapi.so.10'],
};
const INSTALL = 'apt-get install libgssapi-krb5-2 krb5-user (Debian/Ubuntu), dnf install krb5-libs krb5-workstation (Fedora/RHEL)';

export const GSS_FLAGS = { DELEG: 1, MUTUAL: 2, REPLAY: 4, SEQUENCE: 8, CONF: 16, INTEG: 32 } as const;
const IOV = { DATA: 1, HEADER: 2, PADDING: 9 } as const;
/** Supplementary status bits that GSS-API does not count as errors, but a WinRM message must: duplicate, old, unsequenced, gap. */
const OUT_OF_SEQUENCE = 0x2 | 0x4 | 0x8 | 0x10;
const INITIATE_ONLY = 1;

interface Gss {
  k: Koffi;
  f: Record<string, Fn>;
  malloc(n: number): Ptr;
  free(p: Ptr): void;
  ntHostbased: Ptr;
  ntUser: Ptr;
  mechSpnego: Ptr;
  setSpnego: Ptr;
}

let loaded: Gss | undefined;

function load(): Gss {
  if (loaded) return loaded;
  if (process.platform === 'win32') throw new GssUnavailableError('Kerberos for WinRM is not available on Windows responders yet (it needs SSPI): use --winrm-auth ntlm, or run Magpie from Linux or macOS');
  let k: Koffi;
  try {
    k = createRequire(import.meta.url)('koffi');
  } catch (e) {
    throw new GssUnavailableError(`Kerberos needs the optional package koffi, which did not load (${(e as Error).message.split('\n')[0]}): run \`npm install koffi\` in Magpie's folder`);
  }
  let lib: Koffi;
  const tried: string[] = [];
  for (const name of LIBRARIES[process.platform] ?? []) {
    try {
      lib = k.load(name);
      break;
    } catch (e) {
      tried.push(`${name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (!lib) throw new GssUnavailableError(`Kerberos needs the system's GSS-API library, which was not found (${tried.join('; ') || process.platform}): ${INSTALL}`);
  const libc = k.load(process.platform === 'darwin' ? 'libSystem.dylib' : 'libc.so.6');
  const buffer = k.struct('gss_buffer_desc', { length: 'size_t', value: 'void *' });
  k.struct('gss_iov_buffer_desc', { type: 'uint32_t', buffer });
  const oidDesc = k.struct('gss_OID_desc', { length: 'uint32_t', elements: 'void *' });
  const oidSet = k.struct('gss_OID_set_desc', { count: 'size_t', elements: 'void *' });
  const f: Record<string, Fn> = {
    importName: lib.func('uint32_t gss_import_name(_Out_ uint32_t *minor, gss_buffer_desc *name, void *type, _Out_ void **out)'),
    releaseName: lib.func('uint32_t gss_release_name(_Out_ uint32_t *minor, _Inout_ void **name)'),
    acquireWithPassword: lib.func(
      'uint32_t gss_acquire_cred_with_password(_Out_ uint32_t *minor, void *name, gss_buffer_desc *password, uint32_t time_req, void *mechs, int usage, _Out_ void **cred, void *actual_mechs, _Out_ uint32_t *time_rec)',
    ),
    releaseCred: lib.func('uint32_t gss_release_cred(_Out_ uint32_t *minor, _Inout_ void **cred)'),
    init: lib.func(
      'uint32_t gss_init_sec_context(_Out_ uint32_t *minor, void *cred, _Inout_ void **ctx, void *target, void *mech, uint32_t flags, uint32_t time_req, void *cb, gss_buffer_desc *in, void *actual_mech, _Out_ gss_buffer_desc *out, _Out_ uint32_t *ret_flags, _Out_ uint32_t *time_rec)',
    ),
    accept: lib.func(
      'uint32_t gss_accept_sec_context(_Out_ uint32_t *minor, _Inout_ void **ctx, void *cred, gss_buffer_desc *in, void *cb, _Out_ void **src_name, void *mech, _Out_ gss_buffer_desc *out, _Out_ uint32_t *ret_flags, _Out_ uint32_t *time_rec, void *deleg)',
    ),
    deleteContext: lib.func('uint32_t gss_delete_sec_context(_Out_ uint32_t *minor, _Inout_ void **ctx, void *out)'),
    displayName: lib.func('uint32_t gss_display_name(_Out_ uint32_t *minor, void *name, _Out_ gss_buffer_desc *out, void *type)'),
    releaseBuffer: lib.func('uint32_t gss_release_buffer(_Out_ uint32_t *minor, gss_buffer_desc *buf)'),
    displayStatus: lib.func('uint32_t gss_display_status(_Out_ uint32_t *minor, uint32_t status, int type, void *mech, _Inout_ uint32_t *ctx, _Out_ gss_buffer_desc *out)'),
    wrapIovLength: lib.func('uint32_t gss_wrap_iov_length(_Out_ uint32_t *minor, void *ctx, int conf, uint32_t qop, _Out_ int *conf_state, _Inout_ gss_iov_buffer_desc *iov, int count)'),
    wrapIov: lib.func('uint32_t gss_wrap_iov(_Out_ uint32_t *minor, void *ctx, int conf, uint32_t qop, _Out_ int *conf_state, gss_iov_buffer_desc *iov, int count)'),
    unwrapIov: lib.func('uint32_t gss_unwrap_iov(_Out_ uint32_t *minor, void *ctx, _Out_ int *conf_state, _Out_ uint32_t *qop, gss_iov_buffer_desc *iov, int count)'),
  };
  const malloc = libc.func('void *malloc(size_t)') as (n: number) => Ptr;
  const free = libc.func('void free(void *)') as (p: Ptr) => void;
  const sym = (name: string): Ptr => k.decode(lib.symbol(name, 'void *'), 'void *');
  // OIDs live as long as the process: the library keeps the pointers it is given.
  const mechSpnego = malloc(16);
  const spnegoBytes = Buffer.from('2b0601050502', 'hex'); // 1.3.6.1.5.5.2
  const elements = malloc(spnegoBytes.length);
  new Uint8Array(k.view(elements, spnegoBytes.length)).set(spnegoBytes);
  k.encode(mechSpnego, oidDesc, { length: spnegoBytes.length, elements });
  const setSpnego = malloc(16);
  k.encode(setSpnego, oidSet, { count: 1, elements: mechSpnego });
  loaded = { k, f, malloc, free, ntHostbased: sym('GSS_C_NT_HOSTBASED_SERVICE'), ntUser: sym('GSS_C_NT_USER_NAME'), mechSpnego, setSpnego };
  return loaded;
}

/** Throws GssUnavailableError when Kerberos cannot run here (checked before any target is contacted). */
export function gssAvailable(): void {
  load();
}

export interface GssInitiatorOptions {
  /** The target's service name, `HTTP@host` (the SPN HTTP/host). */
  service: string;
  /** With a password: a ticket is asked for this principal (user@REALM) in memory, no kinit and no cache file. Without: the default credential cache. */
  user?: string;
  password?: string;
}

/**
 * One Kerberos security context through SPNEGO, as initiator (the client) or acceptor (the test
 * endpoint, with KRB5_KTNAME's keytab), sealing messages the way WinRM does (MessageSealer).
 */
export class GssContext {
  private readonly g: Gss;
  private readonly ctx: Ptr[] = [null];
  private readonly cred: Ptr[] = [null];
  private target: Ptr = null;
  complete = false;
  /** Acceptor: the authenticated client principal. */
  peer?: string;

  constructor(
    readonly role: 'initiator' | 'acceptor',
    private readonly opts: GssInitiatorOptions = { service: '' },
  ) {
    this.g = load();
    if (role === 'initiator') {
      this.target = this.importName(opts.service, this.g.ntHostbased);
      if (opts.user !== undefined && opts.password !== undefined) this.acquireWithPassword(opts.user, opts.password);
    }
  }

  private text(code: number, kind: 1 | 2): string {
    const { f } = this.g;
    const out: string[] = [];
    const more = [0];
    do {
      const b: Buf = {};
      f.displayStatus([0], code, kind, null, more, b);
      out.push(this.take(b).toString('utf8').replace(/\0+$/, ''));
    } while (more[0]);
    return out.join('; ');
  }

  private check(major: number, minor: number[], call: string): void {
    if (major >>> 16) throw new GssError(call, major, minor[0], `${this.text(major, 1)}${minor[0] ? ` (${this.text(minor[0], 2)})` : ''}`);
  }

  private native(data: Uint8Array): Ptr {
    const p = this.g.malloc(Math.max(data.length, 1));
    if (data.length) new Uint8Array(this.g.k.view(p, data.length)).set(data);
    return p;
  }

  private copy(p: Ptr, n: number): Buffer {
    return n ? Buffer.from(new Uint8Array(this.g.k.view(p, n))) : Buffer.alloc(0);
  }

  private take(b: Buf): Buffer {
    const out = this.copy(b.value, Number(b.length ?? 0));
    if (b.value) this.g.f.releaseBuffer([0], b);
    return out;
  }

  private importName(text: string, type: Ptr): Ptr {
    const minor = [0];
    const out: Ptr[] = [null];
    const bytes = Buffer.from(text, 'utf8');
    const p = this.native(bytes);
    try {
      this.check(this.g.f.importName(minor, { length: bytes.length, value: p }, type, out), minor, `gss_import_name(${text})`);
    } finally {
      this.g.free(p);
    }
    return out[0];
  }

  private acquireWithPassword(user: string, password: string): void {
    const minor = [0];
    const name = this.importName(user, this.g.ntUser);
    const bytes = Buffer.from(password, 'utf8');
    const p = this.native(bytes);
    try {
      this.check(this.g.f.acquireWithPassword(minor, name, { length: bytes.length, value: p }, 0, this.g.setSpnego, INITIATE_ONLY, this.cred, null, [0]), minor, `a Kerberos ticket for ${user}`);
    } finally {
      new Uint8Array(this.g.k.view(p, Math.max(bytes.length, 1))).fill(0);
      bytes.fill(0);
      this.g.free(p);
      this.g.f.releaseName([0], [name]);
    }
  }

  /** Takes the peer's token (nothing for the initiator's first step) and returns the token to send (may be empty). */
  step(input: Uint8Array = Buffer.alloc(0)): Buffer {
    const { f } = this.g;
    const minor = [0];
    const out: Buf = {};
    const p = this.native(input);
    const inBuf = { length: input.length, value: input.length ? p : null };
    let major: number;
    try {
      if (this.role === 'initiator') {
        major = f.init(minor, this.cred[0], this.ctx, this.target, this.g.mechSpnego, GSS_FLAGS.MUTUAL | GSS_FLAGS.REPLAY | GSS_FLAGS.SEQUENCE | GSS_FLAGS.CONF | GSS_FLAGS.INTEG, 0, null, inBuf, null, out, [0], [0]);
      } else {
        const source: Ptr[] = [null];
        // The default acceptor credential: every key of the keytab (KRB5_KTNAME).
        major = f.accept(minor, this.ctx, null, inBuf, null, source, null, out, [0], [0], null);
        if (major === 0 && source[0]) {
          const b: Buf = {};
          f.displayName([0], source[0], b, null);
          this.peer = this.take(b).toString('utf8');
          f.releaseName([0], source);
        }
      }
    } finally {
      this.g.free(p);
    }
    const token = this.take(out);
    this.check(major, minor, this.role === 'initiator' ? 'gss_init_sec_context' : 'gss_accept_sec_context');
    this.complete = major === 0;
    return token;
  }

  /** MessageSealer.wrap: gss_wrap_iov with HEADER, DATA and PADDING; the header is WinRM's "signature". */
  wrap(message: Uint8Array): { sealed: Buffer; signature: Buffer } {
    const { f, malloc, free } = this.g;
    const minor = [0];
    const sizes = [
      { type: IOV.HEADER, buffer: { length: 0, value: null } },
      { type: IOV.DATA, buffer: { length: message.length, value: null } },
      { type: IOV.PADDING, buffer: { length: 0, value: null } },
    ];
    this.check(f.wrapIovLength(minor, this.ctx[0], 1, 0, [0], sizes, 3), minor, 'gss_wrap_iov_length');
    const headerLength = Number(sizes[0].buffer.length);
    const padLength = Number(sizes[2].buffer.length);
    const header = malloc(Math.max(headerLength, 1));
    const data = this.native(message);
    const pad = malloc(Math.max(padLength, 1));
    try {
      const conf = [0];
      const iov = [
        { type: IOV.HEADER, buffer: { length: headerLength, value: header } },
        { type: IOV.DATA, buffer: { length: message.length, value: data } },
        { type: IOV.PADDING, buffer: { length: padLength, value: pad } },
      ];
      this.check(f.wrapIov(minor, this.ctx[0], 1, 0, conf, iov, 3), minor, 'gss_wrap_iov');
      if (!conf[0]) throw new GssError('gss_wrap_iov', 0, 0, 'the message was not encrypted');
      return { signature: this.copy(header, headerLength), sealed: Buffer.concat([this.copy(data, message.length), this.copy(pad, padLength)]) };
    } finally {
      free(header);
      free(data);
      free(pad);
    }
  }

  /** MessageSealer.unwrap: gss_unwrap_iov of the header and the sealed data; a replayed or reordered message fails. */
  unwrap(sealed: Uint8Array, signature: Uint8Array): Buffer {
    const { f, free } = this.g;
    const minor = [0];
    const header = this.native(signature);
    const data = this.native(sealed);
    try {
      const conf = [0];
      const iov = [
        { type: IOV.HEADER, buffer: { length: signature.length, value: header } },
        { type: IOV.DATA, buffer: { length: sealed.length, value: data } },
        { type: IOV.DATA, buffer: { length: 0, value: null } },
      ];
      const major = f.unwrapIov(minor, this.ctx[0], conf, [0], iov, 3);
      this.check(major, minor, 'gss_unwrap_iov');
      if (major & OUT_OF_SEQUENCE) throw new GssError('gss_unwrap_iov', major, 0, 'the message was replayed, reordered or is missing one before it');
      if (!conf[0]) throw new GssError('gss_unwrap_iov', major, 0, 'the message was not encrypted');
      return this.copy(data, sealed.length);
    } finally {
      free(header);
      free(data);
    }
  }

  dispose(): void {
    const { f } = this.g;
    if (this.ctx[0]) f.deleteContext([0], this.ctx, null);
    if (this.cred[0]) f.releaseCred([0], this.cred);
    if (this.target) f.releaseName([0], [this.target]);
    this.ctx[0] = null;
    this.cred[0] = null;
    this.target = null;
  }
}
