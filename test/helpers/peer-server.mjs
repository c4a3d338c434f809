// Accepts TCP connections on the given port and answers each with the peer's
// address as the server saw it: the tests' proof of (no) NAT.
import { createServer } from 'node:net';

const port = Number(process.argv[2]);
createServer((s) => s.end(`${s.remoteAddress.replace(/^::ffff:/, '')}\n`)).listen(port, '0.0.0.0');
setTimeout(() => process.exit(0), 60_000).unref?.();
