import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { RouteSchema, shorthandRoutes, type Route } from '../domain/routes.js';

/**
 * Reads the routes in force at start-up: the YAML file named by APPROVALS_CONFIG, checked against
 * the route schema with errors that point at the file's line and column.
 */

const RoutesFileSchema = z.strictObject({
  routes: z
    .array(RouteSchema)
    .min(1, 'must list at least one route')
    .superRefine((routes, ctx) => {
      const last = routes.at(-1);
      if (last && last.match !== undefined) {
        ctx.addIssue({ code: 'custom', path: [routes.length - 1, 'match'], message: 'the last route must be the default route: remove its match' });
      }
      routes.slice(0, -1).forEach((route, index) => {
        if (route.match === undefined) ctx.addIssue({ code: 'custom', path: [index], message: 'only the last route may omit match (it is the default route)' });
      });
      const names = routes.map((route) => route.name);
      names.forEach((name, index) => {
        if (names.indexOf(name) !== index) ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate route name "${name}"` });
      });
    }),
});

/** A routes file that cannot be used; the message names the file, the line and the problem. */
export class RoutesConfigError extends Error {
  override name = 'RoutesConfigError';
}

/** Parses a routes file. @throws RoutesConfigError with `path:line:col: where: problem` lines. */
export function parseRoutes(text: string, path: string): Route[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new RoutesConfigError(doc.errors.map((e) => `${path}:${lineCounter.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`).join('\n'));
  }
  const parsed = RoutesFileSchema.safeParse(doc.toJS());
  if (parsed.success) return parsed.data.routes;
  const lines = parsed.error.issues.map((issue) => {
    const where = ['routes', ...issue.path].slice(issue.path[0] === 'routes' ? 1 : 0).map(String);
    const node = nearestNode(doc, where);
    const position = node ? `${lineCounter.linePos(node).line}:${lineCounter.linePos(node).col}` : '1:1';
    return `${path}:${position}: ${where.join('.')}: ${issue.message}`;
  });
  throw new RoutesConfigError(lines.join('\n'));
}

/** The offset of the deepest node along `path` that exists in the document. */
function nearestNode(doc: ReturnType<typeof parseDocument>, path: string[]): number | undefined {
  for (let depth = path.length; depth > 0; depth -= 1) {
    const keys = path.slice(0, depth).map((key) => (/^\d+$/.test(key) ? Number(key) : key));
    const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
    if (node?.range) return node.range[0];
  }
  return undefined;
}

/** The routes in force: from the routes file when there is one, else from the shorthand variables. */
export function loadRoutes(config: { routesFile: string | undefined; approvalsChannel: string | undefined; approvers: string[] | 'anyone' | undefined }): Route[] {
  if (config.routesFile === undefined) return shorthandRoutes(config.approvalsChannel, config.approvers);
  let text: string;
  try {
    text = readFileSync(config.routesFile, 'utf8');
  } catch (err) {
    throw new RoutesConfigError(`${config.routesFile}: cannot read APPROVALS_CONFIG: ${(err as Error).message}`);
  }
  return parseRoutes(text, config.routesFile);
}

