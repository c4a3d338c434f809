// issue 21: with an `ip` that hangs, the agent (whose children run
// synchronously) never answered /healthz again and SIGTERM waited for the
// child. A child is killed after FLATNET_CHILD_TIMEOUT and fails like any
// failed command, with a message that says so.
import { afterEach, describe, expect, it } from 'vitest';
import { platform } from '../../src/platform/index.ts';

describe('child processes', () => {
  afterEach(() => {
    delete process.env.FLATNET_CHILD_TIMEOUT;
  });

  it('kills a child that runs past the limit, and says so', () => {
    process.env.FLATNET_CHILD_TIMEOUT = '0.3';
    const t0 = Date.now();
    const r = platform.run(['sleep', '10'], '', { ...process.env });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toBe('sleep: killed after its time limit of 0.3 s (FLATNET_CHILD_TIMEOUT)');
  });

  it('leaves a child within the limit alone', () => {
    process.env.FLATNET_CHILD_TIMEOUT = '5';
    expect(platform.run(['sh', '-c', 'sleep 0.1; echo done'], '', { ...process.env })).toEqual({ exitCode: 0, stdout: 'done\n', stderr: '' });
  });
});
