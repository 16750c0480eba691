// A small, strict, namespace-aware XML reader: for WS-Management responses (one SOAP envelope) and
// for the documents the importers take (autorunsc -x; wevtutil qe /f:xml, which writes several
// <Event> roots one after another). Elements, attributes, text, CDATA, comments, processing
// instructions, the five predefined entities and character references; that is all this reads.
// A DOCTYPE (and so any entity definition) is refused outright — no entity expansion (XML bombs),
// no external fetches. Errors are XmlError and say where (line).
// (No XML package is among the project's dependencies; if one is added, this is the module to swap.)

export interface XmlElement {
  /** Local name, without prefix. */
  name: string;
  /** Namespace URI ('' when none). */
  ns: string;
  /** Attributes by local name (WS-Man attributes are unprefixed, or xml:lang / s:mustUnderstand). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own character data (text and CDATA, concatenated, entities decoded). */
  text: string;
}

export class XmlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XmlError';
  }
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const NAME = /[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?/y;
const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, at: () => string): string {
  if (!s.includes('&')) return s; // most text (a WinRM stream's base64) has none: no regex pass over it
  return s.replace(/&(#x[0-9A-Fa-f]+|#\d+|lt|gt|amp|quot|apos|[^;]*);?/g, (m, e: string) => {
    if (!m.endsWith(';')) throw new XmlError(`${at()}: bad character reference "${m}"`);
    if (e in NAMED) return NAMED[e];
    if (e.startsWith('#')) {
      const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      if (!(cp >= 0 && cp <= 0x10ffff)) throw new XmlError(`${at()}: bad character reference "${m}"`);
      return String.fromCodePoint(cp);
    }
    throw new XmlError(`${at()}: unknown entity "${m}"`);
  });
}

/** Reads the root elements in order; `several` allows more than one (and none). */
function readRoots(input: string, several: boolean): XmlElement[] {
  let pos = 0;
  const src = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const where = () => `line ${src.slice(0, pos).split('\n').length}`;
  const fail = (why: string): never => {
    throw new XmlError(`${where()}: ${why}`);
  };
  const skipSpace = () => {
    while (pos < src.length && /\s/.test(src[pos])) pos++;
  };
  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(src);
    if (!m) fail('expected a name');
    pos += m![0].length;
    return m![0];
  };

  type Open = { el: XmlElement; qname: string; scope: Map<string, string> };
  const resolve = (qname: string, scope: Map<string, string>, isAttr: boolean): { ns: string; local: string } => {
    const colon = qname.indexOf(':');
    if (colon < 0) return { ns: isAttr ? '' : (scope.get('') ?? ''), local: qname };
    const prefix = qname.slice(0, colon);
    if (prefix === 'xml') return { ns: XML_NS, local: qname.slice(colon + 1) };
    const ns = scope.get(prefix);
    if (ns === undefined) fail(`undeclared namespace prefix "${prefix}"`);
    return { ns: ns!, local: qname.slice(colon + 1) };
  };

  const stack: Open[] = [];
  const roots: XmlElement[] = [];
  let scope = new Map<string, string>();

  while (pos < src.length) {
    if (src[pos] !== '<') {
      const end = src.indexOf('<', pos);
      const chunk = src.slice(pos, end < 0 ? src.length : end);
      if (!stack.length) {
        if (chunk.trim()) fail('text outside any element');
      } else stack[stack.length - 1].el.text += decodeEntities(chunk, where);
      pos = end < 0 ? src.length : end;
    } else if (src.startsWith('<!--', pos)) {
      const end = src.indexOf('-->', pos);
      if (end < 0) fail('unterminated comment');
      pos = end + 3;
    } else if (src.startsWith('<![CDATA[', pos)) {
      const end = src.indexOf(']]>', pos);
      if (end < 0) fail('unterminated CDATA');
      if (!stack.length) fail('CDATA outside any element');
      stack[stack.length - 1].el.text += src.slice(pos + 9, end);
      pos = end + 3;
    } else if (src.startsWith('<?', pos)) {
      const end = src.indexOf('?>', pos);
      if (end < 0) fail('unterminated processing instruction');
      pos = end + 2;
    } else if (src.startsWith('<!', pos)) {
      fail('DTDs and declarations are not read');
    } else if (src[pos + 1] === '/') {
      pos += 2;
      const qname = readName();
      skipSpace();
      if (src[pos] !== '>') fail('bad end tag');
      const open = stack.pop();
      if (!open) fail(`</${qname}> closes no element`);
      if (open!.qname !== qname) fail(`</${qname}> closes <${open!.qname}>`);
      pos++;
      scope = stack.length ? stack[stack.length - 1].scope : new Map();
    } else {
      if (roots.length && !stack.length && !several) fail('a second root element');
      pos++;
      const qname = readName();
      const rawAttrs: [string, string][] = [];
      for (;;) {
        const before = pos;
        skipSpace();
        if (src[pos] === '>' || src.startsWith('/>', pos)) break;
        if (pos === before) fail('expected whitespace between attributes');
        const an = readName();
        skipSpace();
        if (src[pos] !== '=') fail(`attribute ${an} without a value`);
        pos++;
        skipSpace();
        const q = src[pos];
        if (q !== '"' && q !== "'") fail('attribute value must be quoted');
        const end = src.indexOf(q, pos + 1);
        if (end < 0) fail('unterminated attribute value');
        const raw = src.slice(pos + 1, end);
        if (raw.includes('<')) fail('"<" in an attribute value');
        rawAttrs.push([an, decodeEntities(raw, where)]);
        pos = end + 1;
      }
      let elScope = scope;
      for (const [an, v] of rawAttrs) {
        if (an === 'xmlns' || an.startsWith('xmlns:')) {
          if (elScope === scope) elScope = new Map(scope);
          elScope.set(an === 'xmlns' ? '' : an.slice(6), v);
        }
      }
      const { ns, local } = resolve(qname, elScope, false);
      const attrs: Record<string, string> = {};
      for (const [an, v] of rawAttrs) {
        if (an === 'xmlns' || an.startsWith('xmlns:')) continue;
        attrs[resolve(an, elScope, true).local] = v;
      }
      const el: XmlElement = { name: local, ns, attrs, children: [], text: '' };
      if (stack.length) stack[stack.length - 1].el.children.push(el);
      else roots.push(el);
      if (src.startsWith('/>', pos)) pos += 2;
      else {
        pos++;
        stack.push({ el, qname, scope: elScope });
        scope = elScope;
      }
    }
  }
  if (stack.length) throw new XmlError(`unterminated element <${stack[stack.length - 1].el.name}>`);
  if (!roots.length && !several) fail('no root element');
  return roots;
}

/** Parses a document with exactly one root element and returns it. */
export function parseXml(input: string): XmlElement {
  return readRoots(input, false)[0];
}

/** Parses text with any number of root elements one after another (wevtutil qe /f:xml); returns them under a synthetic root named "#document". */
export function parseXmlRoots(input: string): XmlElement {
  return { name: '#document', ns: '', attrs: {}, children: readRoots(input, true), text: '' };
}

/** The first child with this namespace and local name. */
export function child(el: XmlElement | undefined, ns: string, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.ns === ns && c.name === name);
}

export function childrenNamed(el: XmlElement | undefined, ns: string, name: string): XmlElement[] {
  return el ? el.children.filter((c) => c.ns === ns && c.name === name) : [];
}

/** Follows a path of [ns, name] steps, first match at each step. */
export function path(el: XmlElement | undefined, ...steps: [string, string][]): XmlElement | undefined {
  let cur = el;
  for (const [ns, name] of steps) cur = child(cur, ns, name);
  return cur;
}

/** Every descendant (depth first) with this namespace and local name. */
export function descendants(el: XmlElement, ns: string, name: string, out: XmlElement[] = []): XmlElement[] {
  for (const c of el.children) {
    if (c.ns === ns && c.name === name) out.push(c);
    descendants(c, ns, name, out);
  }
  return out;
}

/** The first child with this local name, in any namespace, case-insensitive (for tools' loosely specified output). */
export const childByLocalName = (el: XmlElement | undefined, name: string) => el?.children.find((c) => c.name.toLowerCase() === name.toLowerCase());
export const childText = (el: XmlElement | undefined, name: string) => childByLocalName(el, name)?.text.trim();
