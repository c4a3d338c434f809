// A list answer read as it streams in: each element of the top-level
// "items" array is handed over as its own JSON text the moment it is
// complete, and only the rest of the document (kind, metadata with
// resourceVersion and continue) is kept. A kube-apiserver serving a NodeList
// from its watch cache ignores `limit` (1.20 does), so one answer can be the
// whole cluster: 10,000 kubelet-reported Nodes are ~136 MB of JSON, which
// must never be one string or one parsed tree. Pure: chunks in, texts out.

/** Thrown for a document that is not one well-formed JSON object. */
export class ListStreamError extends Error {
  override name = 'ListStreamError';
}

const QUOTE = 0x22;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;

export class ListItemSplitter {
  /** The document without its items' text ("items": [] stays). */
  private skeleton = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Inside the top-level "items" array. */
  private inItems = false;
  /** The current item's text so far (depth >= 2 inside items). */
  private item: string[] = [];
  private itemBytes = 0;
  private done = false;
  /** The next backslash in the current chunk at or after the scan (-1: none left): found once per chunk, not once per string. */
  private nextBackslash = -1;

  constructor(
    private readonly onItem: (text: string) => void,
    /** One item longer than this is no Node: the answer is refused rather than buffered without end. */
    private readonly maxItem = 64 * 1024 * 1024,
  ) {}

  push(chunk: string): void {
    const n = chunk.length;
    // Where the current run of item text (or skeleton text) started in this chunk.
    let from = 0;
    let i = 0;
    this.nextBackslash = chunk.indexOf('\\');
    while (i < n) {
      if (this.inString) {
        i = this.skipString(chunk, i);
        continue;
      }
      const c = chunk.charCodeAt(i);
      if (c === QUOTE) {
        this.inString = true;
      } else if (c === OPEN_OBJ || c === OPEN_ARR) {
        if (this.done) throw new ListStreamError('text after the end of the list document');
        this.depth++;
        if (this.depth === 2 && c === OPEN_ARR && !this.inItems && /"items"\s*:\s*$/.test(this.skeleton + chunk.slice(from, i))) {
          this.flushSkeleton(chunk, from, i + 1);
          from = i + 1;
          this.inItems = true;
        } else if (this.inItems && this.depth === 3) {
          // An item starts: what came before it (the "[" or ",") belongs to the skeleton only up to the "[".
          this.flushSkeleton(chunk, from, i);
          from = i;
        }
      } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
        this.depth--;
        if (this.depth < 0) throw new ListStreamError('unbalanced brackets in the list');
        if (this.inItems && this.depth === 2) {
          this.item.push(chunk.slice(from, i + 1));
          this.emitItem();
          from = i + 1;
        } else if (this.inItems && this.depth === 1) {
          this.flushSkeleton(chunk, from, i);
          from = i;
          this.inItems = false;
        }
        if (this.depth === 0) this.done = true;
      }
      i++;
    }
    if (this.inItems && this.depth >= 3) {
      this.item.push(chunk.slice(from, n));
      this.itemBytes += n - from;
      if (this.itemBytes > this.maxItem) throw new ListStreamError(`one list item is larger than ${this.maxItem} bytes`);
    } else this.flushSkeleton(chunk, from, n);
  }

  /** From `i` inside a string: where scanning goes on. */
  private skipString(chunk: string, i: number): number {
    if (this.escaped) {
      this.escaped = false;
      return i + 1;
    }
    const q = chunk.indexOf('"', i);
    let b = this.nextBackslash;
    if (b >= 0 && b < i) b = this.nextBackslash = chunk.indexOf('\\', i);
    if (b >= 0 && (q < 0 || b < q)) {
      this.escaped = true;
      return b + 1;
    }
    if (q < 0) return chunk.length;
    this.inString = false;
    return q + 1;
  }

  /** The document without its items, parsed; throws when it was cut short or is not JSON. */
  end(): Record<string, unknown> {
    if (!this.done || this.inString) throw new ListStreamError('the list ended before its last "}" (cut short?)');
    let doc: unknown;
    try {
      doc = JSON.parse(this.skeleton);
    } catch (e) {
      throw new ListStreamError(`the list is not JSON: ${(e as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ListStreamError('the list is not a JSON object');
    return doc as Record<string, unknown>;
  }

  private flushSkeleton(chunk: string, from: number, to: number): void {
    if (to <= from) return;
    let s = chunk.slice(from, to);
    // Separators between items would leave "[,,]": only the brackets are kept.
    if (this.inItems) s = s.replace(/,/g, '');
    this.skeleton += s;
    if (this.skeleton.length > this.maxItem) throw new ListStreamError(`the list's own fields are larger than ${this.maxItem} bytes`);
  }

  private emitItem(): void {
    const text = this.item.length === 1 ? this.item[0]! : this.item.join('');
    if (text.length > this.maxItem) throw new ListStreamError(`one list item is larger than ${this.maxItem} bytes`);
    this.item = [];
    this.itemBytes = 0;
    this.onItem(text);
  }
}
