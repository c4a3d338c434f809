// node:path (POSIX) for the QuickJS build: join, dirname and basename with
// Node's results, edge cases included (property-tested against node:path).
function normalize(p: string): string {
  if (p === '') return '.';
  const abs = p.startsWith('/');
  const trailing = p.endsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!abs) out.push('..');
    } else out.push(seg);
  }
  let s = out.join('/');
  if (s === '') {
    if (abs) return '/';
    return trailing ? './' : '.';
  }
  if (trailing) s += '/';
  return abs ? `/${s}` : s;
}

export const join = (...parts: string[]): string => normalize(parts.filter((x) => x !== '').join('/'));

export function dirname(p: string): string {
  if (p === '') return '.';
  const abs = p.startsWith('/');
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = p.length - 1; i >= 1; i--) {
    if (p[i] === '/') {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else inTrailingSlashes = false;
  }
  if (end === -1) return abs ? '/' : '.';
  if (abs && end === 1) return '//';
  return p.slice(0, end);
}

export const basename = (p: string): string => p.replace(/\/+$/, '').split('/').pop() ?? '';

export default { join, dirname, basename };
