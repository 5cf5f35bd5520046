// A unified diff of two texts, line by line (`diff -u` style, 3 lines of
// context), for `gateway cutover --dry-run`. The lines common to both ends are
// set aside first; the rest, small for an edit of a few keys, is compared by
// longest common subsequence.

const CONTEXT = 3
/** Past this many cells the middle is shown as removed then added, not compared. */
const MAX_CELLS = 4_000_000

type Op = { kind: ' ' | '-' | '+'; line: string }

/** `--- a/NAME` / `+++ b/NAME` (an absolute NAME as it is) and the hunks; '' when the texts are equal. */
export function unifiedDiff (before: string, after: string, name: string): string {
  if (before === after) return ''
  const a = splitLines(before)
  const b = splitLines(after)
  let head = 0
  while (head < a.length && head < b.length && a[head] === b[head]) head++
  let tail = 0
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++
  const ops: Op[] = [
    ...a.slice(0, head).map((line): Op => ({ kind: ' ', line })),
    ...middle(a.slice(head, a.length - tail), b.slice(head, b.length - tail)),
    ...a.slice(a.length - tail).map((line): Op => ({ kind: ' ', line }))
  ]
  const [a0, b0] = name.startsWith('/') ? [name, name] : [`a/${name}`, `b/${name}`]
  return `--- ${a0}\n+++ ${b0}\n` + hunks(ops).join('')
}

/** Lines with their end kept off ("\n"; a missing one at the end of the file is marked). */
function splitLines (text: string): string[] {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  else lines[lines.length - 1] += '\n\\ No newline at end of file'
  return lines
}

function middle (a: string[], b: string[]): Op[] {
  if (a.length * b.length > MAX_CELLS) {
    return [...a.map((line): Op => ({ kind: '-', line })), ...b.map((line): Op => ({ kind: '+', line }))]
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..].
  const w = b.length + 1
  const lcs = new Uint32Array((a.length + 1) * w)
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * w + j] = a[i] === b[j] ? lcs[(i + 1) * w + j + 1]! + 1 : Math.max(lcs[(i + 1) * w + j]!, lcs[i * w + j + 1]!)
    }
  }
  const ops: Op[] = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ kind: ' ', line: a[i++]! })
      j++
    } else if (i < a.length && (j === b.length || lcs[(i + 1) * w + j]! >= lcs[i * w + j + 1]!)) {
      // Removals first within a run of changes, as diff -u shows them.
      ops.push({ kind: '-', line: a[i++]! })
    } else {
      ops.push({ kind: '+', line: b[j++]! })
    }
  }
  return ops
}

function hunks (ops: Op[]): string[] {
  const out: string[] = []
  let k = 0
  while (k < ops.length) {
    while (k < ops.length && ops[k]!.kind === ' ') k++
    if (k === ops.length) break
    const start = Math.max(0, k - CONTEXT)
    // Extend while the next change is within 2 × CONTEXT unchanged lines.
    let end = k
    let quiet = 0
    for (let m = k; m < ops.length; m++) {
      if (ops[m]!.kind === ' ') {
        if (++quiet > 2 * CONTEXT) break
      } else {
        quiet = 0
        end = m
      }
    }
    const stop = Math.min(ops.length, end + 1 + CONTEXT)
    let aStart = 1
    let bStart = 1
    for (let m = 0; m < start; m++) {
      if (ops[m]!.kind !== '+') aStart++
      if (ops[m]!.kind !== '-') bStart++
    }
    const body = ops.slice(start, stop)
    const aLen = body.filter((o) => o.kind !== '+').length
    const bLen = body.filter((o) => o.kind !== '-').length
    out.push(`@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@\n`)
    for (const o of body) out.push(o.kind + o.line + '\n')
    k = stop
  }
  return out
}

/** `start,len` (diff -u writes an empty range as the line before it, `,0`). */
function range (start: number, len: number): string {
  if (len === 0) return `${start - 1},0`
  return len === 1 ? String(start) : `${start},${len}`
}
