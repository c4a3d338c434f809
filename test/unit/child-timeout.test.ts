// issue 21: with an `ip` that hangs, the agent (whose children run
// synchronously) never answered /healthz again and SIGTERM waited for the
// child. A child is killed after FLATNET_CHILD_TIMEOUT_MS and fails like any
// failed command, with a message that says so.
import { afterEach, describe, expect, it } from 'vitest';
import { platform } from '../../src/platform/index.ts';

describe('child processes', () => {
  afterEach(() => {
    delete process.env.FLATNET_CHILD_TIMEOUT_MS;
  });

  it('kills a child that runs past the limit, and says so', () => {
    process.env.FLATNET_CHILD_TIMEOUT_MS = '300';
    const t0 = Date.now();
    const r = platform.run(['sleep', '10'], '', { ...process.env });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe('sleep: killed after 0.3 s without finishing (set FLATNET_CHILD_TIMEOUT_MS to allow longer)');
  });

  it('leaves a child within the limit alone', () => {
    process.env.FLATNET_CHILD_TIMEOUT_MS = '5000';
    expect(platform.run(['sh', '-c', 'sleep 0.1; echo done'], '', { ...process.env })).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '' });
  });
});
