// Connects to host:port and prints what the peer-server answered.
import { connect } from 'node:net';

const [host, port] = [process.argv[2], Number(process.argv[3])];
const s = connect({ host, port, timeout: 3000 }, () => {});
let out = '';
s.on('data', (d) => (out += d));
s.on('end', () => {
  process.stdout.write(out);
  process.exit(0);
});
s.on('timeout', () => process.exit(2));
s.on('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
