import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layout is the architecture (see the README's "Layout"): modules import downward only, flows
 * never import each other, the pure layers do no I/O, and the shipped code never reaches the
 * emulator. These read the imports of every file under src/ as text.
 */

const SRC = 'src';

/** What each folder of src/ may import from the others (its own folder is always allowed). */
const ALLOWED: Record<string, string[]> = {
  domain: [],
  ops: ['domain'],
  views: ['domain'],
  store: ['views', 'domain', 'ops'],
  intake: ['store', 'views', 'domain', 'ops'],
  decide: ['store', 'views', 'domain', 'ops'],
  // What engines import: it reads the bot's store and speaks the contract, never a flow of the bot.
  client: ['store', 'domain', 'ops'],
  '.': ['intake', 'decide', 'store', 'views', 'domain', 'ops'],
};

/** Packages that talk to the world: the pure layers import none of them. */
const IO_PACKAGES = ['ioredis', 'bullmq', '@slack/web-api', '@slack/bolt', 'node:fs', 'node:http', 'node:net', 'node:child_process', 'pino', 'prom-client'];
const PURE = ['domain', 'views'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every module a file imports, as written: `import … from 'x'`, `export … from 'x'`, `import 'x'`, `import('x')`. */
function importsOf(text: string): string[] {
  const found = new Set<string>();
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    found.add((match[1] ?? match[2] ?? match[3])!);
  }
  return [...found];
}

const files = sourceFiles(SRC);
const graph = new Map<string, { local: string[]; packages: string[] }>(
  files.map((file) => {
    const specs = importsOf(readFileSync(file, 'utf8'));
    const local = specs.filter((s) => s.startsWith('.')).map((s) => normalize(join(dirname(file), s)).replace(/\.js$/, '.ts'));
    return [file, { local, packages: specs.filter((s) => !s.startsWith('.')) }];
  }),
);
const folderOf = (file: string) => (dirname(relative(SRC, file)).split('/')[0] ?? '.') || '.';

/** The import circles among the files (Tarjan's strongly connected components of more than one file, or a file importing itself). */
function circles(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (file: string) => {
    index.set(file, next);
    low.set(file, next);
    next += 1;
    stack.push(file);
    onStack.add(file);
    for (const to of graph.get(file)?.local ?? []) {
      if (!graph.has(to)) continue;
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(file, Math.min(low.get(file)!, index.get(to)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    if (component.length > 1 || graph.get(file)!.local.includes(file)) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

describe('the layout', () => {
  it('reads the imports of every source file', () => {
    expect(files.length).toBeGreaterThan(30);
    expect(graph.get(join(SRC, 'main.ts'))!.local.length).toBeGreaterThan(10);
  });

  it('has no import circles', () => {
    expect(circles()).toEqual([]);
  });

  it('imports downward only: a flow never imports another flow, and nothing imports main', () => {
    const upward = [...graph].flatMap(([file, { local }]) =>
      local
        .filter((to) => to.startsWith(`${SRC}/`))
        .filter((to) => {
          const [from, target] = [folderOf(file), folderOf(to)];
          return to === join(SRC, 'main.ts') || (from !== target && !ALLOWED[from]!.includes(target));
        })
        .map((to) => `${file} -> ${to}`),
    );
    expect(upward).toEqual([]);
  });

  it('ships no emulator or test code: every relative import of src/ stays inside src/', () => {
    const outside = [...graph].flatMap(([file, { local }]) => local.filter((to) => !to.startsWith(`${SRC}/`)).map((to) => `${file} -> ${to}`));
    expect(outside).toEqual([]);
  });

  it('keeps the domain and the views pure: they import no I/O', () => {
    const io = [...graph]
      .filter(([file]) => PURE.includes(folderOf(file)))
      .flatMap(([file, { packages }]) => packages.filter((p) => IO_PACKAGES.includes(p)).map((p) => `${file} imports ${p}`));
    expect(io).toEqual([]);
  });

  it('finds a circle and an upward import when there is one (the checks can fail)', () => {
    graph.set('src/domain/x.ts', { local: ['src/domain/y.ts', 'src/decide/buttons.ts'], packages: [] });
    graph.set('src/domain/y.ts', { local: ['src/domain/x.ts'], packages: ['ioredis'] });
    try {
      expect(circles()).toContainEqual(['src/domain/x.ts', 'src/domain/y.ts']);
      expect(ALLOWED[folderOf('src/domain/x.ts')]).not.toContain(folderOf('src/decide/buttons.ts'));
    } finally {
      graph.delete('src/domain/x.ts');
      graph.delete('src/domain/y.ts');
    }
  });
});
