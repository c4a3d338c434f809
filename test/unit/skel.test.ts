import { describe, expect, it } from 'vitest';
import { dispatch, type PluginFuncs } from '../../src/cni/skel.ts';
import { parseCniArgs, validateContainerId } from '../../src/cni/args.ts';
import { parseIfName } from '../../src/net/names.ts';
import { CniError } from '../../src/cni/errors.ts';
import { DEFAULT_LOG_FILE, type VerbLog, verbLogLine } from '../../src/cni/verb-log.ts';

const okFuncs: PluginFuncs = {
  add: async () => ({ cniVersion: '1.1.0', ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }], interfaces: [{ name: 'eth0', sandbox: '/x' }] }),
  del: async () => {},
  check: async () => {},
  status: async () => {},
  gc: async () => {},
};

async function call(env: Record<string, string>, stdin: string | object = { cniVersion: '1.0.0', name: 'net' }, funcs = okFuncs) {
  let out = '';
  let err = '';
  const logged: Array<{ settings: VerbLog; line: Record<string, unknown> }> = [];
  const code = await dispatch(funcs, 'CNI test plugin', {
    env: { FLATNET_LOG_LEVEL: 'silent', ...env },
    readStdin: () => (typeof stdin === 'string' ? stdin : JSON.stringify(stdin)),
    stdout: (s) => (out += s),
    stderr: (s) => (err += s),
    logVerb: (settings, o) => logged.push({ settings, line: JSON.parse(verbLogLine(o)) }),
  });
  return { code, out, err, json: out ? JSON.parse(out) : undefined, logged };
}

const ADD = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1', CNI_NETNS: '/var/run/netns/none', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };

describe('skel', () => {
  it('prints the about text to stderr and exits 0 without CNI_COMMAND', async () => {
    const r = await call({});
    expect(r).toMatchObject({ code: 0, out: '' });
    expect(r.err).toContain('CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0');
  });

  it('answers VERSION without reading stdin', async () => {
    const r = await call({ CNI_COMMAND: 'VERSION' }, 'not json');
    expect(r.json).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  });

  it.each([
    [{ CNI_COMMAND: 'BOGUS' }, 4, 'unknown CNI_COMMAND: BOGUS'],
    [{ CNI_COMMAND: 'ADD' }, 4, 'required env variables [CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH] missing'],
    [{ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c' }, 4, 'required env variables [CNI_IFNAME,CNI_PATH] missing'],
    [{ CNI_COMMAND: 'GC' }, 4, 'required env variables [CNI_PATH] missing'],
    [{ ...ADD, CNI_CONTAINERID: '-bad' }, 4, 'invalid characters in containerID'],
    [{ ...ADD, CNI_IFNAME: 'averyveryverylongname' }, 4, 'interface name is too long'],
    [{ ...ADD, CNI_IFNAME: 'eth/0' }, 4, 'interface name contains / or : or whitespace characters'],
    [{ ...ADD, CNI_IFNAME: '..' }, 4, 'interface name is . or ..'],
  ])('rejects env %j with code %i', async (env, code, msg) => {
    const r = await call(env);
    expect(r.code).toBe(1);
    expect(r.json).toMatchObject({ code, msg });
  });

  it.each([
    ['{', 6, 'error unmarshall network config'],
    ['[]', 6, 'not a JSON object'],
    [{ cniVersion: 1, name: 'n' }, 6, 'cniVersion must be a string'],
    [{ cniVersion: '1.0.0' }, 7, 'missing network name'],
    [{ cniVersion: '1.0.0', name: '../etc' }, 7, 'invalid characters found in network name'],
    [{ cniVersion: '1.0.0', name: 'a/b' }, 7, 'invalid characters found in network name'],
    [{ cniVersion: '1.0.0', name: 'n'.repeat(300) }, 7, 'network name is 300 characters long; flatnet takes at most 253'],
    [{ cniVersion: '9.9.9', name: 'n' }, 1, 'incompatible CNI versions'],
  ])('rejects stdin %j with code %i', async (stdin, code, msg) => {
    const r = await call(ADD, stdin);
    expect(r.json.code).toBe(code);
    expect(r.json.msg).toContain(msg);
  });

  it('names the supported versions in the details of a version error', async () => {
    const r = await call(ADD, { cniVersion: '0.9.0', name: 'n' });
    expect(r.json.details).toBe('config is "0.9.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]');
  });

  it.each([
    ['CHECK', '0.3.1'],
    ['STATUS', '1.0.0'],
    ['GC', '1.0.0'],
  ])('refuses %s below the version that allows it', async (cmd, v) => {
    const r = await call({ ...ADD, CNI_COMMAND: cmd }, { cniVersion: v, name: 'n' });
    expect(r.json).toMatchObject({ code: 1, msg: `config version does not allow ${cmd}` });
  });

  it.each(['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'])('prints the ADD result in cniVersion %s, 4-space indented, no newline', async (v) => {
    const r = await call(ADD, { cniVersion: v, name: 'n' });
    expect(r.code).toBe(0);
    expect(r.json.cniVersion).toBe(v);
    expect(r.out.endsWith('}')).toBe(true);
    expect(r.out).toContain('\n    "cniVersion"');
  });

  it('wraps foreign errors as code 999 and keeps CniErrors as they are', async () => {
    const boom = { ...okFuncs, add: async () => { throw new Error('boom'); } };
    expect((await call(ADD, undefined, boom)).json).toEqual({ code: 999, msg: 'boom' });
    const typed = { ...okFuncs, add: async () => { throw new CniError(11, 'later', 'why'); } };
    expect((await call(ADD, undefined, typed)).json).toEqual({ code: 11, msg: 'later', details: 'why' });
  });

  it('refuses a config larger than 4 MiB', async () => {
    const r = await call(ADD, JSON.stringify({ cniVersion: '1.0.0', name: 'n', pad: 'x'.repeat(5 * 1024 * 1024) }));
    expect(r.json.code).toBe(7);
  });
});

describe('the per-node plugin log', () => {
  it('records one line per run: command, container, netns, ifname, addresses, code, duration', async () => {
    const r = await call(ADD);
    expect(r.logged).toHaveLength(1);
    expect(r.logged[0]!.settings).toEqual({ file: { path: DEFAULT_LOG_FILE, maxBytes: 10 * 1024 * 1024, backups: 1 }, level: 'info' });
    expect(r.logged[0]!.line).toMatchObject({ level: 'info', command: 'ADD', containerId: 'c1', netns: '/var/run/netns/none', ifName: 'eth0', addresses: ['10.0.0.2/24'], code: 0 });
    expect(typeof r.logged[0]!.line.ms).toBe('number');
  });
  it('records failures with their code and message, even when the config is not JSON', async () => {
    const r = await call(ADD, '{');
    expect(r.logged[0]!.line).toMatchObject({ level: 'error', command: 'ADD', code: 6 });
    expect(r.logged[0]!.line.msg).toMatch(/error unmarshall network config/);
  });
  it('takes logFile, logLevel and logOptions from the config, and ignores values that make no sense', async () => {
    const r = await call(ADD, { cniVersion: '1.0.0', name: 'net', logFile: '/tmp/x/cni.log', logLevel: 'error', logOptions: { maxSize: 2, maxBackups: 3 } });
    expect(r.logged[0]!.settings).toEqual({ file: { path: '/tmp/x/cni.log', maxBytes: 2 * 1024 * 1024, backups: 3 }, level: 'error' });
    const bad = await call(ADD, { cniVersion: '1.0.0', name: 'net', logFile: 'relative.log', logOptions: { maxSize: -1 } });
    expect(bad.logged[0]!.settings.file).toEqual({ path: DEFAULT_LOG_FILE, maxBytes: 10 * 1024 * 1024, backups: 1 });
  });
  it('logs nothing for VERSION and before the environment is valid', async () => {
    expect((await call({ CNI_COMMAND: 'VERSION' })).logged).toEqual([]);
    expect((await call({ CNI_COMMAND: 'ADD' })).logged).toEqual([]);
  });
});

describe('identifiers and CNI_ARGS (Go rules)', () => {
  it('accepts runtime-style IDs and rejects others', () => {
    expect(() => validateContainerId('a1b2_c.d-e')).not.toThrow();
    expect(() => validateContainerId('')).toThrow('missing containerID');
    expect(() => validateContainerId('a'.repeat(300))).toThrow('containerID is 300 characters long');
    expect(() => parseIfName('eth0')).not.toThrow();
    expect(() => parseIfName('')).toThrow('empty');
    expect(() => parseIfName('a b')).toThrow('whitespace');
  });

  it('parses K=V pairs strictly', () => {
    expect(parseCniArgs('IP=10.0.0.5;IgnoreUnknown=1;K8S_POD_NAME=x', ['IP']).get('IP')).toBe('10.0.0.5');
    expect(() => parseCniArgs('K8S_POD_NAME=x', ['IP'])).toThrow('ARGS: unknown args ["K8S_POD_NAME=x"]');
    expect(() => parseCniArgs('IP=1;', ['IP'])).toThrow('ARGS: invalid pair ""');
    expect(() => parseCniArgs('IP=a=b', ['IP'])).toThrow('invalid pair');
    expect(() => parseCniArgs('ip=10.0.0.5', ['IP'])).toThrow('unknown args');
    expect(parseCniArgs('ip=x;IgnoreUnknown=TRUE', ['IP']).size).toBe(0);
    expect(parseCniArgs('', ['IP']).size).toBe(0);
  });
});
