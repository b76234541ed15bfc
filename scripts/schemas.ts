/**
 * npm run schemas: writes the contract's JSON Schemas to schemas/ (see src/domain/json-schemas.ts).
 * Run it after changing a schema in src/domain/contract.ts; a test fails while the files are stale.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { renderJsonSchemas } from '../src/domain/json-schemas.js';

mkdirSync('schemas', { recursive: true });
for (const [file, schema] of Object.entries(renderJsonSchemas())) {
  writeFileSync(`schemas/${file}`, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`schemas/${file}`);
}
