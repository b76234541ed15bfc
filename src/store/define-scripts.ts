import type { RedisClient } from '../ops/redis-connection.js';

type ScriptRunner = (keys: string[], args: string[]) => Promise<unknown>;

/** Registers Lua scripts on the connection (EVALSHA, falling back to EVAL after a Redis restart). */
export function defineScripts<T extends Record<string, string>>(redis: RedisClient, scripts: T): { [K in keyof T]: ScriptRunner } {
  const runners = {} as { [K in keyof T]: ScriptRunner };
  for (const [name, lua] of Object.entries(scripts) as [keyof T & string, string][]) {
    const command = `approvals${name}`;
    if (!(command in redis)) redis.defineCommand(command, { lua });
    const call = (redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[command]!.bind(redis);
    runners[name] = (keys, args) => call(keys.length, ...keys, ...args);
  }
  return runners;
}
