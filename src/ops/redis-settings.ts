import type { RedisClient } from './redis-connection.js';

/** The Redis settings BullMQ's production guide asks for, as read from the server. */
export interface RedisSettings {
  /** undefined when the server refuses CONFIG GET (many managed services do). */
  maxmemoryPolicy: string | undefined;
  appendonly: string | undefined;
}

/** Warnings for settings that can lose approvals; empty when Redis is set up as it should be. */
export function assessRedisSettings(settings: RedisSettings): string[] {
  const warnings: string[] = [];
  if (settings.maxmemoryPolicy === undefined) {
    warnings.push('could not read maxmemory-policy (CONFIG GET refused): make sure it is "noeviction", or Redis may evict approvals and queued requests under memory pressure');
  } else if (settings.maxmemoryPolicy !== 'noeviction') {
    warnings.push(`maxmemory-policy is "${settings.maxmemoryPolicy}": set it to "noeviction" (CONFIG SET maxmemory-policy noeviction), or Redis may evict approvals and queued requests under memory pressure`);
  }
  if (settings.appendonly === undefined) {
    warnings.push('could not read appendonly (CONFIG GET refused): AOF persistence (appendonly yes, appendfsync everysec) is recommended so a Redis restart keeps pending approvals');
  } else if (settings.appendonly !== 'yes') {
    warnings.push('AOF persistence is off (appendonly no): a Redis restart can lose pending requests and recorded decisions; set appendonly yes with appendfsync everysec');
  }
  return warnings;
}

/** Reads the settings; a refused CONFIG GET yields undefined rather than an error. */
export async function loadRedisSettings(redis: RedisClient): Promise<RedisSettings> {
  const read = async (name: string) => {
    try {
      const reply = (await redis.config('GET', name)) as string[];
      return reply[1];
    } catch {
      // Managed Redis often disables CONFIG; assessRedisSettings warns about what it could not read.
      return undefined;
    }
  };
  return { maxmemoryPolicy: await read('maxmemory-policy'), appendonly: await read('appendonly') };
}

/** A Redis URL fit for logs and banners: any user and password replaced. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
}
