// One agent per network namespace. Two would undo each other's routes (each
// from its own node list), so half the time a podCIDR points at the wrong
// node. The claim is an abstract unix socket: its name space is the network
// namespace's own, and the kernel frees it with the process, even after
// kill -9, so there is no stale lock to clean.
import { createServer, type Server } from 'node:net';

export function claimNetns(name = 'flatnet-agent'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' ? new Error('another flatnet agent runs in this network namespace (stop it first: two would undo each other\'s routes)') : e);
    });
    srv.listen(`\0${name}`, () => {
      srv.unref(); // holds the name, not the process
      resolve(srv);
    });
  });
}
