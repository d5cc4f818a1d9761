import { utf8Encode } from "./utf8.ts";

/** The IEEE 802.3 table (reversed polynomial 0xEDB88320), as Go's `crc32.ChecksumIEEE`. */
const table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE) of `data`, as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = (table[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32 (IEEE) of the UTF-8 bytes of `s`. ASCII strings are hashed without
 * allocating, which is what the ring does on every lookup.
 */
export function crc32String(s: string): number {
  let c = 0xffffffff;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code >= 0x80) return crc32(utf8Encode(s));
    c = (table[(c ^ code) & 0xff] as number) ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}
