// Temp-dir config trees for the config tests, and the refusal tables.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { formatIssueRelativeTo, formatIssues, loadConfig, type LoadResult } from '../../../gateway/config/load-config.js'

const dirs: string[] = []

/** Writes `files` (relative path -> text) into a fresh temp dir; returns the dir. */
export function writeTree (files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-config-'))
  dirs.push(dir)
  for (const [name, text] of Object.entries(files)) {
    const file = join(dir, name)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, text)
  }
  return dir
}

export function removeTrees (): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
}

/** Loads `main.yaml` of a tree written from `files`. */
export function load (files: Record<string, string>, env: NodeJS.ProcessEnv = {}): { dir: string; result: LoadResult } {
  const dir = writeTree(files)
  return { dir, result: loadConfig(join(dir, 'main.yaml'), env) }
}

/** The formatted issue lines (files relative to the tree), or ['OK'] when the config loaded. */
export function issueLines (files: Record<string, string>, env: NodeJS.ProcessEnv = {}): string[] {
  const { dir, result } = load(files, env)
  if (result.ok) return ['OK']
  return formatIssues(result.issues, dir).split('\n')
}

/** Text from lines (keeps YAML in tests readable and indentation exact). */
export function y (...lines: string[]): string {
  return lines.join('\n') + '\n'
}

export const fixturesDir = fileURLToPath(new URL('../../../../test/fixtures/config/', import.meta.url))

/** A valid upstream section, for cases that are about something else. */
export const UPSTREAM = y(
  'upstreams:',
  '  users:',
  '    nodes:',
  '      - url: http://127.0.0.1:3000'
)

/** A config tree that must be refused with exactly the `expected` issue lines. */
export interface Case {
  name: string
  files: Record<string, string>
  env?: NodeJS.ProcessEnv
  expected: string[]
}

/** One test per case: the config is refused with exactly these formatted issue lines. */
export function describeRefusals (title: string, list: Case[]): void {
  describe(title, () => {
    for (const c of list) {
      it(c.name, () => {
        const { dir, result } = load(c.files, c.env ?? {})
        assert.equal(result.ok, false, 'expected the config to be refused')
        if (result.ok) return
        const lines = result.issues.map((i) => formatIssueRelativeTo(i, dir).split(dir).join('<dir>'))
        assert.deepEqual(lines, c.expected)
      })
    }
  })
}

/** An explicit empty route list, for cases about something else (a config with no routes at all is refused). */
export const EMPTY_ROUTES = y('routes: []')
