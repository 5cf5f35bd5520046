// Turns config issues into text: `file:line:column: path: message`, with every
// file shown relative to one directory. Used by `gateway validate`, the
// reloader's log lines, and to tell repeated issues apart.
import { basename, isAbsolute, relative } from 'node:path'
import type { ConfigIssue } from './types.js'

/**
 * `file:line:column: path: message` (or `path: message` without a location);
 * the file is shown relative to the current directory when below it.
 * One parameter only, so `issues.map(formatIssue)` works.
 */
export function formatIssue (issue: ConfigIssue): string {
  return formatIssueRelativeTo(issue, process.cwd())
}

/** As formatIssue, with files shown relative to `baseDir` when below it. */
export function formatIssueRelativeTo (issue: ConfigIssue, baseDir: string): string {
  let out = ''
  if (issue.location !== undefined) {
    const { file, line, column } = issue.location
    out += `${displayFile(file, baseDir)}:${line}:${column}: `
  }
  if (issue.path !== '') out += `${issue.path}: `
  out += issue.message
  if (issue.related !== undefined) {
    const { text, location } = issue.related
    out += ` (${text} ${displayFile(location.file, baseDir)}:${location.line})`
  }
  return out
}

/** One issue per line. */
export function formatIssues (issues: readonly ConfigIssue[], baseDir: string = process.cwd()): string {
  return issues.map((i) => formatIssueRelativeTo(i, baseDir)).join('\n')
}

/** `file` relative to `baseDir` when below it (the base name for `baseDir` itself), else as given. */
export function displayFile (file: string, baseDir: string): string {
  const rel = relative(baseDir, file)
  return rel === '' ? basename(file) : rel.startsWith('..') || isAbsolute(rel) ? file : rel
}
