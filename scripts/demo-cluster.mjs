#!/usr/bin/env node
// `npm run demo`: a 2-node namespace cluster (scripts/cluster.mjs) with its
// agents, a pod on each node, a TCP connection between them that arrives with
// the client pod's own address (no NAT), then everything removed.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { createCluster, sleep } from './cluster.mjs';
import { libcniDriver } from './libcni.mjs';

const bed = join(dirname(fileURLToPath(import.meta.url)), 'bed');

/** libcni-driver when it can be had; without a Go toolchain, pods are added with `flatnet add`. */
function driver() {
  try {
    return libcniDriver();
  } catch {
    return undefined;
  }
}

/** What the server pod saw as the source of a TCP connection from the client pod. */
async function connectionSource(from, to) {
  const server = spawn('ip', ['netns', 'exec', to.ns, process.execPath, join(bed, 'peer-server.mjs'), '8080']);
  try {
    await sleep(400);
    return (await $`ip netns exec ${from.ns} ${process.execPath} ${join(bed, 'peer-client.mjs')} ${to.ip} 8080`).stdout.trim();
  } finally {
    server.kill();
  }
}

async function demo() {
  const c = await createCluster({ nodes: 2, libcniDriver: driver() });
  try {
    c.writeNodes();
    for (const n of c.nodes) await c.startAgent(n);
    const a = await c.addPod(c.nodes[0], 'pod-a');
    const b = await c.addPod(c.nodes[1], 'pod-b');
    console.log(`pod-a ${a.ip} on node1, pod-b ${b.ip} on node2`);
    for (const n of c.nodes) console.log(`${n.name} routes:`, (await c.routes(n)).map((r) => `${r.dst} via ${r.gateway}`).join(', '));
    console.log(`pod-b saw the connection from ${await connectionSource(a, b)} (pod-a is ${a.ip}: no NAT)`);
  } finally {
    const made = [...c.made];
    await c.destroy();
    console.log(`cleaned up: namespaces ${made.join(' ')} and ${c.work} removed`);
  }
}

await demo();
