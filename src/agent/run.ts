// The long-running agent: the loop over one node source, kernel events, and
// the health/metrics endpoint. The command line (src/cli/agent.ts) builds the
// parts from flags; tests build them with fakes.
import type { Server } from 'node:http';
import { log } from '../log.ts';
import type { KernelEvents } from '../sys/kernel.ts';
import { type ListenAddr, serveHealth } from './health.ts';
import { AgentLoop, type Syncer } from './loop.ts';
import { AgentMetrics } from './metrics.ts';
import type { NodeReflector } from './reflector.ts';
import type { NodeSource } from './source.ts';

export interface RunOptions {
  resyncSeconds: number;
  /** Where to serve /healthz, /readyz and /metrics; off when absent. */
  health?: ListenAddr;
  debounceMs?: number;
}

export async function runAgent(agent: Syncer, source: NodeSource, events: KernelEvents | undefined, o: RunOptions, signal: AbortSignal): Promise<void> {
  const metrics = new AgentMetrics(source, () => agent.masqueradeErrors ?? 0);
  if ('observeRequests' in source && typeof source.observeRequests === 'function') (source as NodeReflector).observeRequests((verb, code, s) => metrics.apiRequest(verb, code, s));
  const loop = new AgentLoop(agent, source, events, { resyncMs: o.resyncSeconds * 1000, debounceMs: o.debounceMs }, metrics);
  let server: Server | undefined;
  if (o.health) {
    try {
      server = await serveHealth(o.health, () => loop.health(), metrics);
    } catch (e) {
      throw new Error(`cannot serve /healthz on ${o.health.host}:${o.health.port}: ${(e as Error).message} (choose another --health-addr, or '' for none)`);
    }
    await log('info', { addr: `${o.health.host}:${o.health.port}` }, 'serving /healthz, /readyz, /metrics');
  }
  try {
    await loop.run(signal);
  } finally {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
  }
}
