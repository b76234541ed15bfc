import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { startRedisServer } from '../sandbox/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A private redis-server for this test run; tests isolate themselves by queue name and key prefix. */
    redisUrl: string;
  }
}

/** Builds the bot as `npm start` does and starts the run's private Redis. */
export default async function setup(project: TestProject) {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  const redis = await startRedisServer();
  project.provide('redisUrl', redis.url);
  return async () => redis.stop();
}
