import type { BenchSuite } from '../harness.js';
import { blobSuite } from './blob.js';
import { kvSuite } from './kv.js';
import { runtimeSuite } from './runtime.js';
import { sqlSuite } from './sql.js';

/** Every suite `npm run bench` knows, in the order it runs them. */
export const suites: readonly BenchSuite[] = [runtimeSuite, sqlSuite, blobSuite, kvSuite];
