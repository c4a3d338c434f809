// GET url with node:http and print {"status": N, "type": ..., "body": ...}
// as one JSON line: a real HTTP client for endpoints inside a namespace
// (run it with `ip netns exec`). Exit 1 when no answer came.
import { get } from 'node:http';

const req = get(process.argv[2], { timeout: 5000 }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (d) => (body += d));
  res.on('end', () => process.stdout.write(`${JSON.stringify({ status: res.statusCode, type: res.headers['content-type'], body })}\n`));
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => {
  process.stderr.write(`${e.message}\n`);
  process.exit(1);
});
