#!/usr/bin/env node
// Sets up whatever is missing for `npm start`, `npm test` and `npm run bench`,
// and does nothing (quickly) when nothing is missing:
//   1. the Debian packages the sandbox's real servers come from;
//   2. the npm dependencies (`npm ci`, re-run when package-lock.json changes);
//   3. the TypeScript build (`tsc -b`, incremental).
// It runs before any dependency is installed, so it uses Node's standard library only.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Debian packages, each with a file that proves it is installed. */
const debianPackages = [
  { name: 'mariadb-server', provides: '/usr/sbin/mariadbd' },
  { name: 'mariadb-client', provides: '/usr/bin/mariadb' },
  { name: 'redis-server', provides: '/usr/bin/redis-server' },
  { name: 'redis-tools', provides: '/usr/bin/redis-cli' },
  { name: 'rabbitmq-server', provides: '/usr/lib/rabbitmq/bin/rabbitmq-server' },
  { name: 'sip-tester', provides: '/usr/bin/sipp' },
  // No Docker engine runs here; the compose file is validated with compose v1's `config`.
  { name: 'docker-compose', provides: '/usr/bin/docker-compose' },
  // The controller's dashboard test drives a headless Chromium through playwright-core.
  { name: 'chromium', provides: '/usr/bin/chromium' },
];

const minimumNode = [20, 19];

function fail(message) {
  console.error(`\nsetup: ${message}\n`);
  process.exit(1);
}

function step(message) {
  console.error(`setup: ${message}`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) fail(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args.join(' ')} exited with ${result.status}`);
}

function checkNode() {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  const [wantMajor, wantMinor] = minimumNode;
  if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
    fail(`Node.js ${wantMajor}.${wantMinor} or newer is needed; this is ${process.versions.node}.`);
  }
}

function installDebianPackages() {
  const missing = debianPackages.filter((p) => !existsSync(p.provides)).map((p) => p.name);
  if (missing.length === 0) return;
  const canApt = process.getuid?.() === 0 && existsSync('/usr/bin/apt-get');
  if (!canApt) {
    fail(
      `these packages are missing: ${missing.join(' ')}.\n` +
        `Install them as root (apt-get install ${missing.join(' ')}), or run this as root on Debian/Ubuntu.`,
    );
  }
  step(`installing Debian packages: ${missing.join(' ')}`);
  // Keep apt from starting the packages' system-wide services on their standard
  // ports: the sandbox runs its own instances, and the machine may use those ports.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    run('apt-get', ['update', '-qq'], { env });
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

function installNpmDependencies() {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const digest = createHash('sha256').update(lock).digest('hex');
  const stamp = join(root, 'node_modules', '.switchboard-lock');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  step('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund']);
  writeFileSync(stamp, digest);
}

function build() {
  run(join(root, 'node_modules', '.bin', 'tsc'), ['-b']);
}

checkNode();
installDebianPackages();
installNpmDependencies();
build();
