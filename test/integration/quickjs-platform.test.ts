// The QuickJS platform layer (src/platform/quickjs) under QuickJS itself:
// Node-compatible error codes, process spawning (large input and output, a
// child that ignores its input, concurrency), hashing and timers. The CNI
// binaries rely on each of these; the other integration tests reach them only
// indirectly. The C module's error paths run in a probe built with
// -DFLATNET_FAULTS (injected failures of poll, read, waitpid, allocations);
// what a runtime can do to a plugin from outside (ignore SIGCHLD, hand it an
// unwritable stdout, pipe it 50 MB) runs against the real binaries.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain .mjs build script
import { buildQuickjs } from '../../scripts/build.mjs';
import { MAX_STDIN_BYTES } from '../../src/cni/skel.ts';
import { useBed } from '../helpers/bed.ts';
import { isRoot } from '../helpers/netns.ts';
import { BIN_DIR, bridgeConf, flatnet, runPlugin } from '../helpers/plugin.ts';

// Starts argv as a runtime would that ignores SIGCHLD: the setting passes through exec.
const ignoringSigchld = (argv: string[]): string[] => ['perl', '-e', '$SIG{CHLD} = "IGNORE"; exec @ARGV or die "exec: $!"', ...argv];
const SIGPIPE = 13;
const SIGCHLD = 17;
const ignores = (sigIgnLine: string, sig: number): boolean => ((BigInt(`0x${sigIgnLine.split(/\s+/)[1]}`) >> BigInt(sig - 1)) & 1n) === 1n;

describe.runIf(isRoot())('QuickJS platform shims', () => {
  let work: string;
  let out: Record<string, any>;
  let outIgnoringSigchld: Record<string, any>;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fnq-'));
    const exe = join(work, 'check');
    await buildQuickjs('test/fixtures/quickjs-platform-check.ts', exe);
    const probe = (argv: string[], data: string): Record<string, any> => {
      execFileSync('mkdir', [data]);
      return JSON.parse(execFileSync(argv[0]!, argv.slice(1), { env: { ...process.env, CHECK_DIR: data }, encoding: 'utf8' }));
    };
    out = probe([exe], join(work, 'data'));
    outIgnoringSigchld = probe(ignoringSigchld([exe]), join(work, 'data-sigchld'));
    // In a namespace of its own with many links: the summary of one link is that link's, as `ip` sees it.
    execFileSync('ip', ['netns', 'add', linksNs]);
    const sh = (cmd: string) => execFileSync('ip', ['-n', linksNs, '-batch', '-'], { input: cmd });
    sh(
      [
        'link add br0 type bridge',
        'link set br0 address 02:00:00:00:00:09 up',
        'addr add 10.9.0.1/24 dev br0',
        'addr add 10.9.0.2/24 dev br0',
        'addr add 10.9.1.1/16 dev br0',
        'addr add fd00:9::1/64 dev br0 nodad',
        'link add v0 type veth peer name v1',
        'link set v0 master br0 up',
        'addr add 10.8.0.1/32 peer 10.8.0.2 dev v1',
        ...Array.from({ length: 40 }, (_, i) => `link add d${i} type veth peer name e${i}\naddr add 10.7.${i}.1/24 dev d${i}`),
        '',
      ].join('\n'),
    );
    linksData = join(work, 'data-links');
    execFileSync('mkdir', [linksData]);
    linksOut = JSON.parse(execFileSync('ip', ['netns', 'exec', linksNs, exe], { env: { ...process.env, CHECK_DIR: linksData, CHECK_LINKS: LINKS.join(',') }, encoding: 'utf8' }));
  }, 120_000);
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', linksNs]);
    rmSync(work, { recursive: true, force: true });
  });
  const linksNs = `fnt-${process.pid}-links`;
  const LINKS = ['br0', 'v0', 'v1', 'd7', 'lo', 'nope0'];
  let linksData: string;
  let linksOut: Record<string, any>;

  it('summarises one link of a busy namespace exactly as `ip` shows it, addresses of that link only', () => {
    const ip = JSON.parse(execFileSync('ip', ['-n', linksNs, '-j', 'addr', 'show'], { encoding: 'utf8' })) as any[];
    for (const name of LINKS) {
      const want = ip.find((l) => l.ifname === name);
      const got = linksOut.summaries[name];
      if (!want) {
        expect(got, name).toBe('absent');
        continue;
      }
      expect({ name, ifindex: got.ifindex, mac: got.mac, up: got.up, running: got.running }).toEqual({ name, ifindex: want.ifindex, mac: want.address, up: want.flags.includes('UP'), running: want.flags.includes('LOWER_UP') });
      const addrs = (got.addrs as any[]).map((a) => `${a.address}/${a.prefixlen}`).sort();
      expect(addrs, name).toEqual(want.addr_info.map((a: any) => `${a.local}/${a.prefixlen}`).sort());
    }
    expect(linksOut.summaries.br0.driver).toBe('bridge');
    expect(linksOut.summaries.br0.macSet).toBe(true);
    expect(linksOut.summaries.v1.addrs).toEqual([{ family: 4, address: '10.8.0.1', prefixlen: 32 }]);
  });

  it('reports filesystem errors with the codes Node uses', () => {
    expect(out).toMatchObject({ readMissing: 'ENOENT', writeExclusive: 'EEXIST', linkExisting: 'EEXIST', mkdirExisting: 'EEXIST', unlinkMissing: 'ENOENT', killMissing: 'ESRCH' });
  });
  it('reads and writes UTF-8, links, renames, makes and lists directories', () => {
    expect(out.readBack).toBe('héllo\n');
    expect(out.mode).toBe(true);
    expect(out.entries).toEqual(['a:f', 'c:f', 'd:d']);
    expect(out.realpath).toMatch(/\/data\/d\/e\/f$/);
    expect(out.nsfsMagic).toBe('6e736673');
    expect(out.path).toEqual(['/b/c', 'a/b/', '/x', '.', 'y']); // as node:path.posix
  });
  it('runs processes with input, output, exit codes and the C locale', () => {
    expect(out.run).toEqual({ exitCode: 3, stdout: 'in\n', stderr: 'err\n' });
    expect(out.notFound).toBe(127);
    expect(out.unreadInput).toBe(0);
    expect(out.bigOutput).toBe(5_000_000);
    expect(out.echoBack).toBe(300_000);
    expect(out.envPassed).toBe('C');
  });
  it('fails a child whose output passes 64 MiB', () => {
    expect(out.outputBound).toEqual({ exitCode: 1, stdoutLength: 0, stderr: 'head: cannot collect its result (read: EFBIG)\n' });
  });
  it('kills a child at its time limit and reaps it, and no child outlives the plugin', async () => {
    const killed = { exitCode: 1, stdout: '', children: '' };
    expect(out.timeLimit).toMatchObject({ ...killed, stderr: 'sh: killed after its time limit of 0.3 s (FLATNET_CHILD_TIMEOUT)\n' });
    expect(out.timeLimitDetached).toMatchObject({ ...killed, stderr: 'sh: killed after its time limit of 0.3 s (FLATNET_CHILD_TIMEOUT)\n' });
    expect(out.timeLimitConcurrent).toMatchObject(killed);
    expect(out.timeLimit.ms).toBeLessThan(1500);
    expect(out.timeLimitDetached.ms).toBeLessThan(1500);
    expect(out.timeLimitConcurrent.ms).toBeLessThan(1500);
    // Every child would have created its file by 2 s after it started.
    await new Promise((r) => setTimeout(r, 2500));
    for (const name of ['timeLimit', 'timeLimitDetached', 'concurrent', 'orphan']) expect([name, existsSync(join(work, 'data', `late-${name}`))]).toEqual([name, false]);
  });
  it('starts a concurrent process without waiting, and collects it when awaited', () => {
    expect(out.concurrent).toBe('saw it');
    expect(out.timer).toBe(true);
  });
  it('keeps exit codes when its parent ignores SIGCHLD, and gives children default SIGCHLD and SIGPIPE', () => {
    // Ignored SIGCHLD makes the kernel reap children at once: waitpid found no
    // status, and every failure read as exit 0.
    expect(outIgnoringSigchld.run).toEqual({ exitCode: 3, stdout: 'in\n', stderr: 'err\n' });
    expect(outIgnoringSigchld.concurrent).toBe('saw it');
    for (const o of [out, outIgnoringSigchld]) {
      expect(o.childSigIgn).toMatch(/^SigIgn:/);
      expect(ignores(o.childSigIgn, SIGCHLD)).toBe(false);
      expect(ignores(o.childSigIgn, SIGPIPE)).toBe(false);
    }
  });
  it('opens every fd close-on-exec: a child inherits none of them', () => {
    // A lock file, a pod's namespace and the host's (opened by inNetns), the
    // child started from inside the pod's namespace as the pod-side `ip` is.
    expect(out.openedFds).toHaveLength(2);
    expect(out.childFds).toEqual(out.inheritedFds);
    for (const fd of out.openedFds) expect(out.childFds).not.toContain(fd);
    expect(out.inheritedFds).toEqual(expect.arrayContaining(['0', '1', '2']));
  });
  it('refuses a NUL inside a path, argument or variable, as Node does, and never acts on the part before it', () => {
    const { truncated, ...shims } = out.nul;
    for (const [call, code] of Object.entries(shims)) expect([call, code]).toEqual([call, call.startsWith('sys') ? 'EINVAL' : 'ERR_INVALID_ARG_VALUE']);
    expect(truncated).toBe('ENOENT');
  });
  it('hashes with SHA-512 and draws random bytes', () => {
    expect(out.sha512).toBe('ddaf35a193617aba');
    const node = (t: string) => createHash('sha512').update(t).digest('hex');
    expect(out.sha512Lengths).toEqual([0, 1, 55, 56, 63, 64, 110, 111, 112, 113, 119, 120, 127, 128, 129, 239, 240, 255, 256, 1000, 100000].map((n) => node('x'.repeat(n))));
    expect(out.sha512Text).toEqual(['é', 'net☃id', 'unit-testeth0:one', '\u{1f600}'.repeat(50)].map(node));
  });

  it('starts a piped child before its input is known, and collects what it was fed', () => {
    expect(out.piped).toEqual({ exitCode: 0, stdout: 'fed later done\n', stderr: '' });
    expect(out.pipedUnfed).toEqual({ exitCode: 0, stdout: '', stderr: '' });
    expect(out.pipedStartedEarly).toBe(true);
    expect(out.pipedEarlyResult).toBe('x');
  });

  it('summarises a link without a process, and scans a store directory in one call', () => {
    expect(out.loSummary).toMatchObject({ ifindex: 1, up: true, running: true, mac: '00:00:00:00:00:00' });
    expect(out.loSummary.addrs).toContainEqual({ family: 4, address: '127.0.0.1', prefixlen: 8 });
    expect(out.missingSummary).toBe('absent');
    // A symlink or a directory named like an IP is never read as a lease.
    expect(out.readDirFiles).toEqual(['.flatnet-tmp.1.x', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
    expect(out.readDirBig).toEqual([{ name: '10.0.0.8', error: 'EFBIG' }, { name: '10.0.0.9', content: '' }]);
    expect(out.readDirNul).toBe('ERR_INVALID_ARG_VALUE');
    // O_TMPFILE: nothing in the directory until a name is given (a kill before leaves nothing).
    expect(out.unnamedBefore).toEqual([]);
    expect(out.unnamedTaken).toBe('EEXIST');
    expect(out.unnamedAfter).toEqual(['10.0.0.9="c9\\r\\neth0"', 'fd00::9="c9\\r\\neth0"']);
    expect(out.randomLength).toBe(6);
  });
});

describe('QuickJS platform: failures inside the C module flatnet_sys (fault injection)', () => {
  let work: string;
  let run: { status: number | null; stderr: string };
  let out: Record<string, any>;
  let abort: { status: number | null; stdout: string; stderr: string };
  const ns = `fnt-${process.pid}-abort`;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'fnq-'));
    const exe = join(work, 'faults');
    await buildQuickjs('test/fixtures/quickjs-faults-check.ts', exe, { cflags: ['-DFLATNET_FAULTS'] });
    const r = spawnSync(exe, { env: { ...process.env, CHECK_DIR: work }, encoding: 'utf8', maxBuffer: 64 << 20 });
    run = { status: r.status, stderr: r.stderr };
    out = JSON.parse(r.stdout);
    if (isRoot()) {
      execFileSync('ip', ['netns', 'add', ns]);
      const a = spawnSync(exe, { env: { ...process.env, CHECK_DIR: work, CHECK_NETNS: `/var/run/netns/${ns}` }, encoding: 'utf8' });
      abort = { status: a.status, stdout: a.stdout, stderr: a.stderr };
    }
  }, 120_000);
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', ns]);
    rmSync(work, { recursive: true, force: true });
  });

  it.runIf(isRoot())('stops the process when it cannot return from a pod\'s namespace: nothing more runs', () => {
    expect(abort.status).toBe(1);
    expect(abort.stdout).not.toMatch(/caught|went on/);
    expect(JSON.parse(abort.stdout)).toMatchObject({ code: 999, msg: expect.stringMatching(/^cannot return to the host network namespace after entering \/var\/run\/netns\/fnt-.*: setns: ENOMEM$/) });
    expect(abort.stderr).toMatch(/cannot return to the host network namespace/);
  });

  const lost = (file: string, call: string) => ({ exitCode: 1, stdout: '', stderr: expect.stringMatching(new RegExp(`${file}: cannot collect its result \\(${call}\\)\n$`)) });
  const notStarted = (file: string, errno: string) => ({ exitCode: 127, stdout: '', stderr: `${file}: cannot start: ${errno}` });

  it('reports a child whose output or status was lost as a failure, never as its exit code', () => {
    expect(out.pollFails.result).toEqual(lost('sh', 'poll: ENOMEM'));
    expect(out.pollFailsMidOutput.result).toEqual(lost('sh', 'poll: ENOMEM'));
    expect(out.pollFailsFeedingInput.result).toEqual(lost('cat', 'poll: ENOMEM'));
    expect(out.readFails.result).toEqual(lost('echo', 'read: EIO'));
    expect(out.reallocFailsMidOutput.result).toEqual(lost('head', 'read: ENOMEM'));
    expect(out.waitpidFails.result).toEqual(lost('sh', 'waitpid: ECHILD'));
    expect(out.waitpidFailsOnSuccess.result).toEqual(lost('true', 'waitpid: ECHILD'));
    expect(out.concurrentPollFails.result).toEqual(lost('sh', 'poll: ENOMEM'));
  });
  it('reports a child it could not start (no memory, no fds) as such', () => {
    expect(out.inputCopyFails.result).toEqual(notStarted('cat', 'ENOMEM'));
    expect(out.argvFails.result).toEqual(notStarted('true', 'ENOMEM'));
    expect(out.envFails.result).toEqual(notStarted('true', 'ENOMEM'));
    expect(out.secondPipeFails.result).toEqual(notStarted('true', 'EMFILE'));
    expect(out.inputPipeFails.result).toEqual(notStarted('cat', 'EMFILE'));
    expect(out.reportPipeFails.result).toEqual(notStarted('true', 'EMFILE'));
    expect(out.forkFails.result).toEqual(notStarted('cat', 'EAGAIN'));
    expect(out.childDup2Fails.result).toEqual(notStarted('cat', 'EBADF'));
    // Without O_NONBLOCK on its pipes the plugin could block on the child: none started, none left running.
    expect(out.nonblockFails.result).toEqual(notStarted('sh', 'EBADF'));
    expect(out.nonblockInputFails.result).toEqual(notStarted('cat', 'EBADF'));
  });
  it('fails a directory listing cut short, a JS result it could not build, and a netlink reply it did not get whole', () => {
    expect(out.readdirFails.result).toEqual({ threw: 'EIO' });
    for (const c of ['jsArrayFails', 'jsSetFails', 'linkJsArrayFails', 'linkJsSetFails']) expect([c, out[c].result]).toEqual([c, { threw: 'out of memory' }]);
    expect(out.netlinkTimeout.result).toEqual({ threw: 'ETIMEDOUT' });
    expect(out.netlinkTruncated.result).toEqual({ threw: 'EMSGSIZE' });
    expect(out.netlinkShortAttr.result).toEqual({ threw: 'EBADMSG' });
  });
  it('turns failed file reads and writes into Node-style errors', () => {
    expect(out.readFileFails.result).toEqual({ threw: 'ENOMEM' });
    expect(out.writeFileFails.result).toEqual({ threw: 'EIO' });
  });
  it('leaves no fd open and no child unreaped on any of those paths, and keeps working', () => {
    const cases = Object.entries(out).filter(([k]) => k !== 'afterwards');
    expect(cases.length).toBeGreaterThan(15);
    for (const [name, c] of cases) expect([name, c.fdsLeaked, c.children]).toEqual([name, false, '']);
    expect(out.afterwards).toEqual({ exitCode: 4, stdout: 'still\n', stderr: '' });
  });
  it('exits non-zero when a write to stdout failed, even on exit(0)', () => {
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/cannot write to stdout \(EIO\)/);
  });
});

describe('the real CNI binaries against a hostile runtime', () => {
  const bin = (name: string): string => {
    const p = join(BIN_DIR, name);
    if (!existsSync(p)) throw new Error(`${p} is missing: run node scripts/build.mjs first`);
    return p;
  };
  const cni = (command: string) => ({ ...process.env, CNI_COMMAND: command, CNI_CONTAINERID: 'fnq-stdin', CNI_NETNS: '/nonexistent/fnq-netns', CNI_IFNAME: 'eth0', CNI_PATH: '/nonexistent' });

  it.each(['flatnet', 'flatnet-ipam'])('%s exits non-zero when its result cannot be written to stdout', (name) => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(bin(name), { env: cni('VERSION'), stdio: ['ignore', full, 'pipe'], encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/cannot write to stdout \(ENOSPC\)/);
    } finally {
      closeSync(full);
    }
  });
  it('exits non-zero with stdout closed, and 0 when only stderr cannot be written', () => {
    const closed = spawnSync('sh', ['-c', `"$0" >&-`, bin('flatnet')], { env: cni('VERSION'), encoding: 'utf8' });
    expect(closed.status).toBe(1);
    expect(closed.stderr).toMatch(/cannot write to stdout \(EBADF\)/);
    const full = openSync('/dev/full', 'w');
    try {
      const version = spawnSync(bin('flatnet'), { env: cni('VERSION'), stdio: ['ignore', 'pipe', full], encoding: 'utf8' });
      expect([version.status, JSON.parse(version.stdout).cniVersion]).toEqual([0, expect.any(String)]);
      // No CNI_COMMAND: the about text goes to stderr only.
      const about = spawnSync(bin('flatnet'), { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', full], encoding: 'utf8' });
      expect(about.status).toBe(0);
    } finally {
      closeSync(full);
    }
  });
  it('reads no more than the bound of a 50 MB stdin and answers code 7', () => {
    const work = mkdtempSync(join(tmpdir(), 'fnq-'));
    try {
      const file = join(work, 'big');
      writeFileSync(file, Buffer.alloc(50_000_000, 0x20));
      const fd = openSync(file, 'r');
      try {
        const r = spawnSync(bin('flatnet'), { env: cni('ADD'), stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
        expect(r.status).toBe(1);
        expect(JSON.parse(r.stdout)).toMatchObject({ code: 7, msg: `network config is larger than ${MAX_STDIN_BYTES} bytes` });
        // The file offset is shared with the child: it tells how much was read.
        const pos = Number(/^pos:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1]);
        expect(pos).toBeGreaterThan(MAX_STDIN_BYTES);
        expect(pos).toBeLessThanOrEqual(MAX_STDIN_BYTES + 1);
      } finally {
        closeSync(fd);
      }
      // From a pipe, as a runtime feeds it: the writer is left with EPIPE, not a hang.
      const piped = spawnSync('sh', ['-c', 'head -c 50000000 /dev/zero | "$0"', bin('flatnet')], { env: cni('ADD'), encoding: 'utf8' });
      expect(JSON.parse(piped.stdout)).toMatchObject({ code: 7 });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});

describe.runIf(isRoot())('flatnet under a runtime that ignores SIGCHLD', () => {
  const bed = useBed('fnt-sigchld');
  // A wrapper in the runtime's place: the plugin inherits SIGCHLD ignored.
  const wrapped = (): string => {
    const path = join(bed.data.path, 'flatnet-sigchld-ignored');
    writeFileSync(path, `#!/bin/sh\nexec ${ignoringSigchld([flatnet]).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} "$@"\n`, { mode: 0o755 });
    return path;
  };

  it('an ADD whose route cannot be installed fails, and a good ADD succeeds', async () => {
    const plugin = wrapped();
    // The route fails inside the pod (its gateway is off every subnet): `ip`
    // exits 1, which read as 0 when waitpid lost the status.
    const bad = bridgeConf({ dataDir: bed.data.path, ipamExtra: { routes: [{ dst: '192.0.2.0/24', gw: '198.51.100.1' }] } });
    const r = await runPlugin(bed.node, plugin, bad, { command: 'ADD', containerId: 'bad', netns: bed.pod.path });
    expect(r.exitCode, r.stdout).not.toBe(0);
    expect(r.json.msg).toContain('route prepend 192.0.2.0/24 via 198.51.100.1');
    const good = bridgeConf({ dataDir: bed.data.path });
    const ok = await runPlugin(bed.node, plugin, good, { command: 'ADD', containerId: 'good', netns: bed.pod.path });
    expect(ok.exitCode, ok.stdout).toBe(0);
    expect((await runPlugin(bed.node, plugin, good, { command: 'DEL', containerId: 'good', netns: bed.pod.path })).exitCode).toBe(0);
  });
});
