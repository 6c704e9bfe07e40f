#!/usr/bin/env node
// `switchboard`, the operators' command line over the controller's API. The only module of the
// CLI that reads the environment and the arguments or sets the exit code; the commands live in
// ./cli/ as functions over injected fetch and streams.
import { runCli } from './cli/run.js';

process.exitCode = await runCli(process.argv.slice(2), {
  fetch: (url, init) => fetch(url, init),
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
