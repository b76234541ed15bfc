/**
 * Redis Cluster key slots, as the cluster computes them: CRC16 (XMODEM: polynomial 0x1021, initial
 * value 0) of the key's bytes, or of its hash tag, modulo 16384.
 * @see https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#key-distribution-model
 */

/** How many slots a Redis Cluster has. */
export const CLUSTER_SLOTS = 16_384;

const TABLE = Array.from({ length: 256 }, (_, byte) => {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

/** CRC16/XMODEM of the bytes (0 to 65535), the checksum Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/**
 * The hash tag of a key: what lies between its first `{` and the first `}` after it, when that is
 * not empty; undefined otherwise (the whole key is then hashed). Keys are read as UTF-8 bytes.
 */
export function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  if (open < 0) return undefined;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/** The slot (0 to 16383) Redis Cluster keeps `key` in: that of its hash tag when it has one. */
export function keySlot(key: string): number {
  return crc16(Buffer.from(hashTagOf(key) ?? key, 'utf8')) % CLUSTER_SLOTS;
}
