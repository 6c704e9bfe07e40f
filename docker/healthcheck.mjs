// A container's healthcheck (docker-compose.yml): exits 0 when the daemon in this container
// answers GET /readyz with 200 on its ops port, 1 otherwise. The port is the daemon's own
// SWB_OPS_PORT, read from the container's environment, so the check cannot drift from the
// daemon's configuration. The slim Node image has no curl; Node's fetch does the request.
const port = process.env.SWB_OPS_PORT;
if (port === undefined || !/^\d+$/.test(port)) {
  console.error(`healthcheck: SWB_OPS_PORT must name the daemon's ops port (got ${port})`);
  process.exit(1);
}

try {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`, {
    signal: AbortSignal.timeout(4000),
  });
  if (!response.ok) {
    // /readyz names each dependency and its state: the line docker inspect shows.
    console.error(`healthcheck: /readyz ${response.status} ${await response.text()}`);
    process.exit(1);
  }
} catch (error) {
  console.error(
    `healthcheck: /readyz on port ${port}: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
}
