import { createRequire } from 'node:module';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { CliConfig } from '../../ops/config.js';
import { clientFromConfig } from '../cli/client-from-config.js';
import { connectRedis } from '../cli/connect-redis.js';
import { EXIT } from '../cli/exit-codes.js';
import type { CliIo } from '../cli/request-command.js';
import { createGateMcpServer } from './gate-mcp-server.js';

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };

/**
 * `approval-gate mcp`: serves the Model Context Protocol on stdin/stdout until stdin ends (the MCP
 * client closed it) or SIGTERM/SIGINT. stdout carries the protocol only; anything else goes to `io.err`.
 * @returns the exit code: 0 after a clean end, 3 when Redis cannot be reached at start.
 */
export async function serveMcp(config: CliConfig, io: CliIo): Promise<number> {
  try {
    (await connectRedis(config.redis)).disconnect();
  } catch (err) {
    io.err((err as Error).message);
    return EXIT.redis;
  }
  const client = clientFromConfig(config);
  if (!config.publicKeys) io.err('approval-gate mcp: decision signatures are not checked: set DECISION_PUBLIC_KEY_FILE to the gate\'s public key');
  const server = createGateMcpServer(client, { version });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => (server.server.onclose = resolve));
  const stop = () => void transport.close();
  process.stdin.once('end', stop);
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await server.connect(transport);
  await closed;
  await client.close();
  return EXIT.ok;
}
