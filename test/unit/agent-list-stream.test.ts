// The streaming list reader: whatever the chunking, every item comes out as
// the text JSON.parse would give for it, and the rest of the document (its
// resourceVersion and continue) is kept; a document cut short is refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ListItemSplitter, ListStreamError } from '../../src/agent/list-stream.ts';

function split(text: string, cuts: number[]): { items: unknown[]; doc: Record<string, unknown> } {
  const items: unknown[] = [];
  const s = new ListItemSplitter((t) => items.push(JSON.parse(t)));
  let at = 0;
  for (const c of [...cuts.filter((c) => c > 0 && c < text.length)].sort((a, b) => a - b)) {
    s.push(text.slice(at, c));
    at = c;
  }
  s.push(text.slice(at));
  return { items, doc: s.end() };
}

const json = fc.jsonValue({ maxDepth: 3 });
const item = fc.record({ metadata: fc.record({ name: fc.string() }), status: fc.dictionary(fc.string(), json) });

describe('list item splitter', () => {
  it('hands over each item and keeps the rest, for any chunking and any strings (quotes, backslashes, brackets)', () => {
    fc.assert(
      fc.property(fc.array(item, { maxLength: 6 }), fc.string(), fc.array(fc.nat(4000)), fc.boolean(), (items, cont, cuts, pretty) => {
        const doc = { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: '42', continue: cont }, items, trailer: { items: [1, 2] } };
        const text = pretty ? JSON.stringify(doc, null, 2) : JSON.stringify(doc);
        const r = split(text, cuts);
        expect(r.items).toEqual(JSON.parse(JSON.stringify(items)));
        expect(r.doc).toEqual({ ...doc, items: [] });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a list cut short, and text after its end', () => {
    const text = JSON.stringify({ kind: 'NodeList', metadata: { resourceVersion: '1' }, items: [{ metadata: { name: 'a' } }] });
    expect(() => split(text.slice(0, -1), [])).toThrow(ListStreamError);
    expect(() => split(text.slice(0, 40), [])).toThrow(/cut short/);
    expect(() => split(`${text}{}`, [])).toThrow(/after the end/);
  });

  it('refuses an item larger than its bound instead of buffering it', () => {
    const s = new ListItemSplitter(() => undefined, 100);
    expect(() => s.push(`{"items": [{"a": "${'x'.repeat(200)}"}]}`)).toThrow(/larger than 100 bytes/);
  });
});
