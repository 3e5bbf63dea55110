// A Headers for the gateway's own calls: the request headers Node's HTTP parser handed over, the
// in-process calls of the REST surfaces, and the response headers and trailers the interceptors
// set. The WHATWG Headers of Node (undici's) converts every name and value it is given through
// WebIDL's ByteString (a loop over each character, twice per set) and keeps a sorted list for
// iteration: ~9 µs of a REST call's ~230 in the profile (issue 11), for a dozen headers.
//
// Same behaviour where the gateway relies on it: names are case-insensitive (kept lower-cased),
// values are trimmed of leading and trailing whitespace, several values of one name read as one
// "a, b" value (`set-cookie` apart: getSetCookie), iteration is in name order, and a name or
// value that Headers refuses (not an HTTP token; CR, LF, NUL or a character above U+00FF in a
// value) throws the same TypeError, so nothing a caller sends can reach a response's writeHead
// unchecked.

/** RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What Headers refuses in a value: CR, LF, NUL, and (WebIDL ByteString) anything above U+00FF. */
const BAD_VALUE = /[\r\n\0\u0100-\uffff]/;
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/** Names already checked, as given → lower-cased: the gateway's own names are a few dozen (bounded all the same). */
const checkedNames = new Map<string, string>();
const CHECKED_NAMES_MAX = 512;

function headerName(name: string): string {
  const known = checkedNames.get(name);
  if (known !== undefined) return known;
  if (!TOKEN.test(name)) throw new TypeError(`Headers: invalid header name ${JSON.stringify(name)}`);
  const lower = name.toLowerCase();
  if (checkedNames.size < CHECKED_NAMES_MAX) checkedNames.set(name, lower);
  return lower;
}

function headerValue(value: string): string {
  const v = String(value);
  const trimmed = v.length > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(v.length - 1) <= 32) ? v.replace(EDGE_WHITESPACE, "") : v;
  if (BAD_VALUE.test(trimmed)) throw new TypeError(`Headers: invalid value for a header`);
  return trimmed;
}

type Init = ConstructorParameters<typeof Headers>[0];
type Entries = ReturnType<Headers["entries"]>;
type Keys = ReturnType<Headers["keys"]>;

export class FastHeaders implements Headers {
  /** Lower-cased name → value (several values joined with ", "). */
  private readonly map = new Map<string, string>();
  private cookies: string[] | undefined;

  constructor(init?: Init) {
    if (init === undefined) return;
    if (init instanceof FastHeaders) {
      for (const [k, v] of init.map) this.map.set(k, v);
      if (init.cookies) this.cookies = [...init.cookies];
    } else if (Array.isArray(init) || Symbol.iterator in init) {
      for (const pair of init as Iterable<[string, string]>) {
        if (pair.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
        this.append(pair[0], pair[1]);
      }
    } else {
      for (const name of Object.keys(init)) this.append(name, (init as Record<string, string>)[name]!);
    }
  }

  /**
   * The headers Node's HTTP/1.1 parser or HTTP/2 session handed over, taken as they are: their
   * names are lower-cased tokens and their values were checked (latin1, trimmed, no CR, LF or
   * NUL) before the request reached us. HTTP/2 pseudo-headers (`:path`, …) are left out.
   */
  static fromIncoming(headers: Readonly<Record<string, string | string[] | undefined>>): FastHeaders {
    const out = new FastHeaders();
    const map = out.map;
    for (const key in headers) {
      if (key.charCodeAt(0) === 58 /* ':' */) continue;
      const value = headers[key];
      if (value === undefined) continue;
      if (typeof value === "string") map.set(key, value);
      else {
        map.set(key, value.join(", "));
        if (key === "set-cookie") out.cookies = [...value];
      }
    }
    return out;
  }

  append(name: string, value: string): void {
    const k = headerName(name);
    const v = headerValue(value);
    if (k === "set-cookie") (this.cookies ??= []).push(v);
    const had = this.map.get(k);
    this.map.set(k, had === undefined ? v : `${had}, ${v}`);
  }

  set(name: string, value: string): void {
    const k = headerName(name);
    const v = headerValue(value);
    if (k === "set-cookie") this.cookies = [v];
    this.map.set(k, v);
  }

  delete(name: string): void {
    const k = headerName(name);
    if (k === "set-cookie") this.cookies = undefined;
    this.map.delete(k);
  }

  get(name: string): string | null {
    return this.map.get(headerName(name)) ?? null;
  }

  has(name: string): boolean {
    return this.map.has(headerName(name));
  }

  getSetCookie(): string[] {
    return this.cookies ? [...this.cookies] : [];
  }

  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.sorted()) callback.call(thisArg, v, k, this);
  }

  /**
   * What forEach gives (set-cookie once per value), in the order the names were first set rather
   * than name order: for the gateway's own copies into a response head, where the order means
   * nothing and the sorted copy forEach makes was ~1 % of a call's CPU and ~2 KB of its garbage.
   */
  forEachUnordered(callback: (value: string, key: string) => void): void {
    for (const [k, v] of this.map) {
      if (k === "set-cookie" && this.cookies) for (const c of this.cookies) callback(c, k);
      else callback(v, k);
    }
  }

  entries(): Entries {
    return this.sorted()[Symbol.iterator]();
  }

  keys(): Keys {
    return this.sorted().map(([k]) => k)[Symbol.iterator]();
  }

  values(): Keys {
    return this.sorted().map(([, v]) => v)[Symbol.iterator]();
  }

  [Symbol.iterator](): Entries {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return "Headers";
  }

  /** Name order, as Headers iterates (set-cookie once per value). */
  private sorted(): [string, string][] {
    const out: [string, string][] = [];
    for (const [k, v] of this.map) {
      if (k === "set-cookie" && this.cookies) for (const c of this.cookies) out.push([k, c]);
      else out.push([k, v]);
    }
    return out.length < 2 || inOrder(out) ? out : out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
}

/**
 * Each header of `headers` as forEach gives it, in no particular order: a FastHeaders without its
 * sorted copy (forEachUnordered), any other Headers through forEach. For copies into a response head.
 */
export function eachHeader(headers: Headers, callback: (value: string, key: string) => void): void {
  if (headers instanceof FastHeaders) headers.forEachUnordered(callback);
  else headers.forEach(callback);
}

function inOrder(entries: [string, string][]): boolean {
  for (let i = 1; i < entries.length; i++) if (entries[i - 1]![0] > entries[i]![0]) return false;
  return true;
}
