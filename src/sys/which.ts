// The one PATH-style lookup (PATH for tools, CNI_PATH for plugins), as Go's
// exec.LookPath and pkg/invoke's FindInPath find a file: the first regular
// file of that name in the list's directories, no process started.
import { statSync } from 'node:fs';
import { join } from 'node:path';

/** The path of the first regular file `name` in the colon-separated `dirs`, or undefined. */
export function which(name: string, dirs: string): string | undefined {
  for (const d of dirs.split(':')) {
    if (!d) continue;
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
