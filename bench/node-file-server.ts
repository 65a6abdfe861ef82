// A plain Node file server for the side-by-side benchmark: one process, one file,
// GET and HEAD with a single Range, the body piped from fs.createReadStream in 1 MiB reads. No
// framework, no logging: what Node itself costs to serve a file, the floor isoproxy at one worker
// is compared with.
//
//   node dist/bench/node-file-server.js <port> <file>

import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';

const [portText, file] = process.argv.slice(2);
if (!portText || !file) throw new Error('usage: node-file-server.js <port> <file>');
const size = statSync(file).size;
const etag = `"${size.toString(16)}"`;

const server = createServer((req, res) => {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405).end();
    return;
  }
  let start = 0;
  let end = size - 1;
  let status = 200;
  const range = req.headers.range;
  const m = range ? /^bytes=(\d*)-(\d*)$/.exec(range) : null;
  if (m && (m[1] !== '' || m[2] !== '')) {
    if (m[1] === '') {
      start = Math.max(0, size - Number(m[2]));
    } else {
      start = Number(m[1]);
      if (m[2] !== '') end = Math.min(end, Number(m[2]));
    }
    if (start > end || start >= size) {
      res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    status = 206;
  }
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Content-Length': String(end - start + 1),
  };
  if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const stream = createReadStream(file, { start, end, highWaterMark: 1024 * 1024 });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portText), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
