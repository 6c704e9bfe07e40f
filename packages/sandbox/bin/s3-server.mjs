// The sandbox's S3 server: s3rver on loopback, run as a detached child by src/s3.ts.
//   node s3-server.mjs <port> <data-dir> <bucket>
// It is an entry point of its own (plain JavaScript, so it runs from src/ and dist/ alike).
import S3rver from 's3rver';

const [port, directory, bucket] = process.argv.slice(2);
if (port === undefined || directory === undefined || bucket === undefined) {
  process.stderr.write('usage: node s3-server.mjs <port> <data-dir> <bucket>\n');
  process.exitCode = 2;
} else {
  const server = new S3rver({
    address: '127.0.0.1',
    port: Number(port),
    directory,
    // One line per request would grow the log without bound under a bench.
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  process.stdout.write(
    `${new Date().toISOString()} s3rver listening on ${address.address}:${address.port}, data in ${directory}\n`,
  );
  const stop = (signal) => {
    process.stdout.write(`${new Date().toISOString()} ${signal}: closing\n`);
    // In-flight requests get two seconds; kept-alive client sockets must not hold the exit.
    setTimeout(() => server.httpServer?.closeAllConnections(), 2000).unref();
    server.close().then(
      () => process.stdout.write(`${new Date().toISOString()} closed\n`),
      (error) => {
        process.stderr.write(`${new Date().toISOString()} close failed: ${error}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
