/**
 * npm run audit -- <run_id> [--json]
 * The same as `approval-gate audit …` (src/client/cli/main.ts), without a build first.
 */
import { runAsProgram } from '../src/client/cli/main.js';

runAsProgram(['audit', ...process.argv.slice(2)]);
