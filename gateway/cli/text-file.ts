// Tells a YAML text file from binary data before the YAML parser sees it: fed
// an executable, the parser reports a screen of errors made of control bytes.
import fs from 'node:fs'

/**
 * Offset of the first byte that cannot be in a UTF-8 text file (a control
 * byte other than tab, LF and CR, or a malformed UTF-8 sequence), or -1.
 */
export function firstBinaryByte (bytes: Uint8Array): number {
  const n = bytes.length
  let i = 0
  while (i < n) {
    const b = bytes[i]!
    if (b < 0x80) {
      if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d) return i
      i++
      continue
    }
    const len = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (len === 0 || i + len > n) return i
    const b1 = bytes[i + 1]!
    // Second-byte limits that rule out overlong forms, surrogates and code points past U+10FFFF.
    const lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80
    const hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf
    if (b1 < lo || b1 > hi) return i
    for (let k = 2; k < len; k++) if ((bytes[i + k]! & 0xc0) !== 0x80) return i
    i += len
  }
  return -1
}

/**
 * `FILE: not a text YAML file (binary data at byte N)` when the regular file
 * at `file` holds binary data; undefined otherwise (also when it cannot be
 * read, or is not a regular file such as a pipe: the loader reports on those).
 */
export function binaryFileProblem (file: string, shownAs = file): string | undefined {
  let bytes: Buffer
  try {
    if (!fs.statSync(file).isFile()) return undefined
    bytes = fs.readFileSync(file)
  } catch {
    return undefined
  }
  const at = firstBinaryByte(bytes)
  return at < 0 ? undefined : `${shownAs}: not a text YAML file (binary data at byte ${at})`
}
