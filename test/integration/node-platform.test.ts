// The Node/Bun platform (src/platform/node), which flatnet-cli runs on under
// Bun: exit statuses survive a parent that ignores SIGCHLD.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/plugin.ts';

const fixture = join(ROOT, 'test', 'fixtures', 'node-platform-check.ts');
const ignoringSigchld = ['perl', '-e', '$SIG{CHLD} = "IGNORE"; exec @ARGV or die "exec: $!"'];
const bun = join(ROOT, 'node_modules', '.bin', 'bun');

// Under Bun only: Node installs a SIGCHLD handler of its own, whatever it inherited.
describe('Node/Bun platform', () => {
  it('under Bun: keeps exit codes when its parent ignores SIGCHLD', () => {
    const argv = [...ignoringSigchld, bun, fixture];
    const out = JSON.parse(execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }));
    expect(out).toEqual({ ok: 0, failed: 3, concurrent: 4 });
  });
});
