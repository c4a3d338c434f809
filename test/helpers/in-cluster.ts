// What an in-cluster client finds in a pod, made for a test: a throw-away CA
// and API server certificate (openssl), the service-account files kubelet
// mounts (token, ca.crt, namespace), the `kubernetes` service env, and the
// API stand-in (kube-api-stub.mjs) serving https with that certificate and
// checking that token, run inside a test namespace and driven over stdin.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { ROOT } from './plugin.ts';

export interface InClusterFiles {
  caCert: string;
  serverCert: string;
  serverKey: string;
  token: string;
  /** token, ca.crt and namespace: what kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountDir: string;
}

/** A CA, an API server certificate for `ips` (and kubernetes.default.svc), and the service-account files. */
export async function makeInClusterFiles(dir: string, ips: string[], namespace: string): Promise<InClusterFiles> {
  const pki = join(dir, 'pki');
  const sa = join(dir, 'serviceaccount');
  mkdirSync(pki, { recursive: true });
  mkdirSync(sa, { recursive: true });
  const p = (f: string) => join(pki, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await execa('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=fnt-kubernetes-ca']);
  await execa('openssl', ['req', ...ec, '-keyout', p('apiserver.key'), '-out', p('apiserver.csr'), '-subj', '/CN=kube-apiserver']);
  const sans = [...ips.map((ip) => `IP:${ip}`), 'DNS:kubernetes', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'];
  writeFileSync(p('ext.cnf'), `subjectAltName=${sans.join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  await execa('openssl', ['x509', '-req', '-in', p('apiserver.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '1', '-out', p('apiserver.crt'), '-extfile', p('ext.cnf')]);
  const token = randomBytes(24).toString('base64url');
  writeFileSync(join(sa, 'token'), token);
  writeFileSync(join(sa, 'namespace'), namespace);
  copyFileSync(p('ca.crt'), join(sa, 'ca.crt'));
  return { caCert: p('ca.crt'), serverCert: p('apiserver.crt'), serverKey: p('apiserver.key'), token, serviceAccountDir: sa };
}

/** The env kubelet gives every container for the `kubernetes` service at host:port. */
export function kubernetesServiceEnv(host: string, port: number): Record<string, string> {
  const tcp = `tcp://${host}:${port}`;
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: String(port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: tcp,
    [`KUBERNETES_PORT_${port}_TCP`]: tcp,
    [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp',
    [`KUBERNETES_PORT_${port}_TCP_PORT`]: String(port),
    [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
  };
}

export interface StubReport {
  req?: 'list' | 'watch';
  rv?: string;
  status?: number;
  auth?: string;
  port?: number;
  done?: string;
  /** Lists: the query's limit and continue token, whether the answer was gzipped, and how many items it held. */
  limit?: number;
  continue?: string;
  gzip?: boolean;
  items?: number;
}

/** The API stand-in running in namespace `ns`, listening on host:port with TLS and a token. */
export class KubeApiStub {
  readonly reports: StubReport[] = [];
  private waiters: Array<() => void> = [];
  private exited = false;

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (l) => {
      this.reports.push(JSON.parse(l) as StubReport);
      for (const w of this.waiters.splice(0)) w();
    });
    child.on('exit', () => (this.exited = true));
  }

  /** With `o`, https on host:port with that certificate and token; without, plain http on 127.0.0.1 and a free port. */
  static async start(ns: string, o?: { host: string; port: number; files: InClusterFiles }): Promise<KubeApiStub> {
    const tls = o ? ['--listen', `${o.host}:${o.port}`, '--tls-cert', o.files.serverCert, '--tls-key', o.files.serverKey, '--token', o.files.token] : [];
    const args = [join(ROOT, 'test', 'helpers', 'kube-api-stub.mjs'), ...tls];
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, ...args]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const stub = new KubeApiStub(child);
    await stub.until('the API stand-in to listen', () => stub.reports.some((r) => r.port) || stub.exited).catch((e: Error) => {
      throw new Error(`${e.message}: ${stderr}`);
    });
    if (stub.exited) throw new Error(`the API stand-in exited: ${stderr}`);
    return stub;
  }

  /** The port it listens on. */
  get port(): number {
    return this.reports.find((r) => r.port)!.port!;
  }

  /** Sends one command (see kube-api-stub.mjs) and waits until the stand-in has applied it. */
  async send(cmd: object): Promise<void> {
    const line = JSON.stringify(cmd);
    this.child.stdin.write(`${line}\n`);
    await this.until(`the stand-in to apply ${line.slice(0, 60)}`, () => this.reports.some((r) => r.done === line));
  }

  count(req: 'list' | 'watch', pred: (r: StubReport) => boolean = () => true): number {
    return this.reports.filter((r) => r.req === req && pred(r)).length;
  }

  async until(what: string, pred: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; API requests: ${JSON.stringify(this.reports.slice(-8))}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.stdin.end();
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (!this.exited) this.child.kill('SIGKILL');
  }
}
