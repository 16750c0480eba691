// A small XML reader for the two documents the importers take: autorunsc -x and wevtutil qe
// /f:xml (several <Event> roots one after another). Elements, attributes, text, CDATA, comments,
// processing instructions, the five named entities and character references; no DTDs (a
// <!DOCTYPE> is refused: nothing here needs one, and entity expansion is how XML bombs work).
// Namespace prefixes are dropped from names. Errors say where (line).

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

export class XmlError extends Error {}

const NAMED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(s: string, lineOf: () => number): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[A-Za-z]+);/g, (all, e: string) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      if (!Number.isFinite(cp) || cp > 0x10ffff) throw new XmlError(`line ${lineOf()}: bad character reference ${all}`);
      return String.fromCodePoint(cp);
    }
    if (!(e in NAMED)) throw new XmlError(`line ${lineOf()}: unknown entity ${all}`);
    return NAMED[e];
  });
}

const local = (n: string) => n.slice(n.indexOf(':') + 1);

/** Parses text with one or more root elements; returns them under a synthetic root named "#document". */
export function parseXml(text: string): XmlElement {
  const doc: XmlElement = { name: '#document', attrs: {}, children: [], text: '' };
  const stack: XmlElement[] = [doc];
  let i = 0;
  const lineOf = () => text.slice(0, i).split('\n').length;
  const top = () => stack[stack.length - 1];
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = text.slice(i, lt < 0 ? text.length : lt);
    if (chunk) {
      if (stack.length === 1) {
        if (chunk.trim()) throw new XmlError(`line ${lineOf()}: text outside any element`);
      } else top().text += decodeEntities(chunk, lineOf);
    }
    if (lt < 0) break;
    i = lt;
    if (text.startsWith('<!--', i)) {
      const end = text.indexOf('-->', i + 4);
      if (end < 0) throw new XmlError(`line ${lineOf()}: unterminated comment`);
      i = end + 3;
    } else if (text.startsWith('<![CDATA[', i)) {
      const end = text.indexOf(']]>', i + 9);
      if (end < 0) throw new XmlError(`line ${lineOf()}: unterminated CDATA`);
      top().text += text.slice(i + 9, end);
      i = end + 3;
    } else if (text.startsWith('<?', i)) {
      const end = text.indexOf('?>', i + 2);
      if (end < 0) throw new XmlError(`line ${lineOf()}: unterminated processing instruction`);
      i = end + 2;
    } else if (text.startsWith('<!', i)) {
      throw new XmlError(`line ${lineOf()}: DTDs and declarations are not read`);
    } else if (text.startsWith('</', i)) {
      const m = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(text.slice(i, i + 300));
      if (!m) throw new XmlError(`line ${lineOf()}: bad end tag`);
      const open = stack.pop()!;
      if (stack.length === 0 || open.name !== local(m[1])) throw new XmlError(`line ${lineOf()}: </${m[1]}> closes <${open.name}>`);
      i += m[0].length;
    } else {
      const m = /^<([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(text.slice(i, i + 100_000));
      if (!m) throw new XmlError(`line ${lineOf()}: bad start tag`);
      const el: XmlElement = { name: local(m[1]), attrs: {}, children: [], text: '' };
      for (const a of m[2].matchAll(/([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) el.attrs[local(a[1])] = decodeEntities(a[2] ?? a[3], lineOf);
      top().children.push(el);
      i += m[0].length;
      if (!m[3]) stack.push(el);
    }
  }
  if (stack.length > 1) throw new XmlError(`unterminated element <${top().name}>`);
  return doc;
}

export const child = (el: XmlElement | undefined, name: string) => el?.children.find((c) => c.name.toLowerCase() === name.toLowerCase());
export const childText = (el: XmlElement | undefined, name: string) => child(el, name)?.text.trim();
