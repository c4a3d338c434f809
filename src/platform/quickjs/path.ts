// node:path (POSIX), the three functions the CNI binaries use.
function normalize(p: string): string {
  const abs = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(seg);
  }
  const s = out.join('/');
  return abs ? `/${s}` : s || '.';
}

export const join = (...parts: string[]): string => normalize(parts.filter((x) => x !== '').join('/'));

export function dirname(p: string): string {
  const s = p.replace(/\/+$/, '');
  const i = s.lastIndexOf('/');
  if (i < 0) return '.';
  return i === 0 ? '/' : s.slice(0, i);
}

export const basename = (p: string): string => p.replace(/\/+$/, '').split('/').pop() ?? '';

export default { join, dirname, basename };
