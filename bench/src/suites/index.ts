import type { BenchSuite } from '../harness.js';
import { blobSuite } from './blob.js';
import { busSuite } from './bus.js';
import { controllerSuite } from './controller.js';
import { kvSuite } from './kv.js';
import { runtimeSuite } from './runtime.js';
import { sipSuite } from './sip.js';
import { sqlSuite } from './sql.js';
import { workerSuite } from './worker.js';

/** Every suite `npm run bench` knows, in the order it runs them. */
export const suites: readonly BenchSuite[] = [
  runtimeSuite,
  sqlSuite,
  blobSuite,
  kvSuite,
  busSuite,
  workerSuite,
  controllerSuite,
  sipSuite,
];
