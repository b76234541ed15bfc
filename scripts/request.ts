/**
 * npm run request -- <file.json> [more.json …] [--wait] [--timeout 15m]
 * The same as `approval-gate request …` (src/client/cli/main.ts), without a build first.
 */
import { runAsProgram } from '../src/client/cli/main.js';

runAsProgram(['request', ...process.argv.slice(2)]);
