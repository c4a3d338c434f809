// Probes of a cluster's pod network shared by the dual-stack and the
// nftables-only e2e: every pair pings in both families, TCP shows who the
// receiver saw (no NAT between pods), traffic to anything outside the cluster
// CIDRs (other nodes, hosts on the node network, the internet) shows the
// node's address.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { ROOT } from './plugin.ts';
// @ts-expect-error: plain JS module shared with the demo
import { HOST_IP, HOST_IP6, INTERNET_IP, INTERNET_IP6 } from '../../scripts/cluster.mjs';

const server = join(ROOT, 'scripts', 'bed', 'peer-server.mjs');
const client = join(ROOT, 'scripts', 'bed', 'peer-client.mjs');

/** One ping from a pod (or node) namespace; its exit code says whether an answer came. */
export const ping = (from: { ns: string }, ip: string) => execa('ip', ['netns', 'exec', from.ns, 'ping', '-c', '1', '-W', '2', ip], { reject: false });

/** The source address a TCP server in `toNs` sees for a connection from `from`. */
export async function tcpSource(from: { ns: string }, toNs: string, toIp: string, port: number): Promise<string> {
  const srv = spawn('ip', ['netns', 'exec', toNs, process.execPath, server, String(port), toIp.includes(':') ? '::' : '0.0.0.0'], { stdio: 'ignore' });
  try {
    for (let i = 0; i < 30; i++) {
      const r = await execa('ip', ['netns', 'exec', from.ns, process.execPath, client, toIp, String(port)], { reject: false });
      if (r.exitCode === 0) return r.stdout.trim();
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error(`no TCP answer from ${toIp}:${port}`);
  } finally {
    srv.kill();
  }
}

/** The probes, as tests of the describe block that calls this; `get` returns its dual-stack cluster. */
export function podNetworkChecks(get: () => any): void {
  it('every pod pings every other pod, over IPv4 and over IPv6', async () => {
    const c = get();
    const failures: string[] = [];
    await Promise.all(
      c.pods.map(async (a: any) => {
        for (const b of c.pods) {
          if (a === b) continue;
          for (const ip of [b.ip, b.ip6]) if ((await ping(a, ip)).exitCode !== 0) failures.push(`${a.name} -> ${b.name} (${ip})`);
        }
      }),
    );
    expect(failures).toEqual([]);
    expect(c.pods.every((p: any) => p.ip && p.ip6)).toBe(true);
  });

  it("TCP across nodes arrives with the client pod's own address, IPv4 and IPv6 (no NAT)", async () => {
    const c = get();
    const from = c.pods.find((p: any) => p.node.k === 1);
    const to = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, to.ns, to.ip, 8091)).toBe(from.ip);
    expect(await tcpSource(from, to.ns, to.ip6, 8092)).toBe(from.ip6);
  });

  it("a pod reaching another node's address is masqueraded to its own node's, IPv4 and IPv6; its own node's address sees the pod's", async () => {
    const c = get();
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.nodes[0].ns, c.nodes[0].ip, 8093)).toBe(c.nodes[1].ip);
    expect(await tcpSource(from, c.nodes[0].ns, c.nodes[0].ip6, 8096)).toBe(c.nodes[1].ip6);
    expect(await tcpSource(from, c.nodes[1].ns, c.nodes[1].ip6, 8097)).toBe(from.ip6);
  });

  it("a host on the node network that is no flatnet node is reached from a pod and sees the node's address, IPv4 and IPv6", async () => {
    const c = get();
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.host, HOST_IP, 8098)).toBe(c.nodes[1].ip);
    expect(await tcpSource(from, c.host, HOST_IP6, 8099)).toBe(c.nodes[1].ip6);
  });

  it("traffic leaving the cluster is masqueraded to the node's address of its family", async () => {
    const c = get();
    const from = c.pods.find((p: any) => p.node.k === 2);
    expect(await tcpSource(from, c.inet, INTERNET_IP, 8094)).toBe(c.nodes[1].ip);
    expect(await tcpSource(from, c.inet, INTERNET_IP6, 8095)).toBe(c.nodes[1].ip6);
  });
}

