const encoder = new TextEncoder();

/**
 * Number of bytes of `s` in UTF-8, without encoding it. Go measures keys as
 * `len(key)` (bytes), so byte accounting must agree with that, not with
 * `s.length` (UTF-16 units).
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      // A surrogate pair is 2 UTF-16 units and 4 UTF-8 bytes.
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

/** UTF-8 bytes of `s` (a well-formed string). */
export function utf8Encode(s: string): Uint8Array {
  return encoder.encode(s);
}
