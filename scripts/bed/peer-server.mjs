// Accepts TCP connections on the given port and answers each with the peer's
// address as the server saw it: the tests' proof of (no) NAT.
import { createServer } from 'node:net';

// An optional second argument is the address to listen on ('::' for IPv6).
const [port, host = '0.0.0.0'] = [Number(process.argv[2]), process.argv[3]];
createServer((s) => s.end(`${s.remoteAddress.replace(/^::ffff:/, '')}\n`)).listen(port, host);
setTimeout(() => process.exit(0), 60_000).unref?.();
