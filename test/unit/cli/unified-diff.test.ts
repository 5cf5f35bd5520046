// The unified diff of `gateway cutover --dry-run`, checked against what
// `diff -u` prints for the same texts (hunks merged when their context meets,
// removals before additions, a missing final newline marked).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { unifiedDiff } from '../../../gateway/cli/unified-diff.js'

const text = (n: number, change: Record<number, string | null> = {}): string => {
  const out: string[] = []
  for (let i = 1; i <= n; i++) {
    const c = change[i]
    if (c === null) continue
    out.push(c ?? `line ${i}`)
  }
  return out.join('\n') + '\n'
}

test('equal texts: no diff', () => {
  assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'f.yaml'), '')
})

test('changes far apart are two hunks; near ones share one', () => {
  const before = text(30)
  const after = text(30, { 3: 'line three', 20: null, 26: 'x' })
  assert.equal(unifiedDiff(before, after, 'f.yaml'), [
    '--- a/f.yaml',
    '+++ b/f.yaml',
    '@@ -1,6 +1,6 @@',
    ' line 1',
    ' line 2',
    '-line 3',
    '+line three',
    ' line 4',
    ' line 5',
    ' line 6',
    '@@ -17,13 +17,12 @@',
    ' line 17',
    ' line 18',
    ' line 19',
    '-line 20',
    ' line 21',
    ' line 22',
    ' line 23',
    ' line 24',
    ' line 25',
    '-line 26',
    '+x',
    ' line 27',
    ' line 28',
    ' line 29',
    ''
  ].join('\n'))
})

test('a line added at the end of a file without a final newline', () => {
  assert.equal(unifiedDiff('a\nb', 'a\nb\nc\n', '/abs/f.yaml'), [
    '--- /abs/f.yaml',
    '+++ /abs/f.yaml',
    '@@ -1,2 +1,3 @@',
    ' a',
    '-b',
    '\\ No newline at end of file',
    '+b',
    '+c',
    ''
  ].join('\n'))
})

test('an insertion into an empty region gives the line before it and ,0', () => {
  assert.equal(unifiedDiff('', 'a\n', 'f'), '--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+a\n')
})
