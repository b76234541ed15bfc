import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * An engine outside this checkout installs the gate from the tarball `npm pack` makes: the client it
 * imports, its types and the `approval-gate` command must be in it, and nothing of the development
 * tree (tests, sandbox, sources, benchmarks). The tarball is packed from the `dist/` the test run
 * built (`--ignore-scripts`: `prepack` would remove `dist/` under the other test files' feet).
 */

const run = promisify(execFile);
const root = resolve('.');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
// Dependencies come from the npm cache that `npm ci` filled, the registry only for what it lacks.
const offline = ['--prefer-offline', '--no-audit', '--no-fund'];

let dir: string;
let tarball: string;
let files: string[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'approval-gate-pack-'));
  const { stdout } = await run(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, packed!.filename);
  files = packed!.files.map((file) => file.path).sort();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the package npm pack makes', () => {
  it('holds the built client with its types, the command and the documents, and nothing of the development tree', () => {
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'LICENSE', 'SECURITY.md', 'dist/main.js', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/cli/main.js', 'schemas/request.schema.json']));
    const outside = files.filter((path) => !path.startsWith('dist/') && !path.startsWith('schemas/') && !['package.json', 'README.md', 'LICENSE', 'SECURITY.md'].includes(path));
    expect(outside).toEqual([]);
    // Source maps point at src/, which is not shipped.
    expect(files.filter((path) => path.endsWith('.map'))).toEqual([]);
    expect(files.filter((path) => /^(test|sandbox|src|bench|scripts|examples|node_modules)\//.test(path))).toEqual([]);
  });

  it('installs into a project of its own: the client imports with its types, and approval-gate --help runs', async () => {
    const project = join(dir, 'engine');
    await run('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'engine', private: true, type: 'module' }));
    await run(npm, ['install', tarball, ...offline], { cwd: project });

    const imported = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('slack-approval-gate/client'); console.log(Object.keys(m).sort().join(' '))"], { cwd: project });
    expect(imported.stdout.trim().split(' ')).toEqual(expect.arrayContaining(['createApprovalClient', 'verifyDecision', 'checkDecisionSignature', 'DecisionSchema', 'RedisUnavailableError']));
    // Only what `exports` names can be imported: the package's inside is not its interface.
    const inside = await run(process.execPath, ['--input-type=module', '-e', "import('slack-approval-gate/dist/client/index.js').then(() => console.log('imported'), (err) => console.log(err.code))"], { cwd: project });
    expect(inside.stdout.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');

    const help = await run(join(project, 'node_modules', '.bin', 'approval-gate'), ['--help'], { cwd: project });
    expect(help.stdout).toMatch(/approval-gate request FILE\.json/);

    // The types resolve from the installed package: a wrong option is a type error, not `any`.
    writeFileSync(
      join(project, 'engine.ts'),
      [
        "import { createApprovalClient, verifyDecision, type Decision } from 'slack-approval-gate/client';",
        "const gate = createApprovalClient({ connection: 'redis://127.0.0.1:6379' });",
        'export const check = (decision: Decision) => verifyDecision(decision, { job: {}, policySnapshot: "x", publicKeys: {} }).ok;',
        'export const close: () => Promise<void> = gate.close;',
        '// @ts-expect-error: connection is a URL or an ioredis client',
        'createApprovalClient({ connection: 6379 });',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules', '@types')] }, files: ['engine.ts'] }),
    );
    const typecheck = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]).catch((err: { stdout: string }) => err);
    expect(typecheck.stdout).toBe('');
  }, 300_000);
});
