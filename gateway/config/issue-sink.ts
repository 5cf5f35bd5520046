// Where the steps of a load report what they find: the issues in the order
// found, put in reading order (file, line, column) with exact repeats dropped
// once the load is over. Also the small context the checks after the merge
// share: the sink, and how to locate a value of the merged config.
import { formatIssueRelativeTo } from './format-issue.js'
import type { ConfigIssue, SourceLocation } from './types.js'
import { formatPath } from './validate.js'
import type { PathSegment } from './yaml-source.js'

/** Where a value of the merged config was written (`key`: where its key was). */
export type Locate = (path: ReadonlyArray<PathSegment>, key?: boolean) => SourceLocation | undefined

/** What a check needs to report an issue at a value of the merged config. */
export interface CheckContext {
  readonly issues: IssueSink
  readonly at: Locate
}

export class IssueSink {
  /** In the order found (parseYaml appends to it directly). */
  readonly list: ConfigIssue[] = []

  get count (): number {
    return this.list.length
  }

  /** `related`: another place the issue concerns (`first defined at`), shown as ` (TEXT file:line)`. */
  add (
    location: SourceLocation | undefined,
    path: ReadonlyArray<PathSegment>,
    message: string,
    related?: { text: string; location: SourceLocation | undefined }
  ): void {
    const issue: ConfigIssue = { path: formatPath(path), message }
    if (location !== undefined) issue.location = location
    if (related?.location !== undefined) issue.related = { text: related.text, location: related.location }
    this.list.push(issue)
  }

  /**
   * The issues without a location first, then by file (in the order of
   * `files`, the files read), line and column, then in the order found;
   * an issue that reads exactly as an earlier one is dropped.
   */
  inReadingOrder (files: readonly string[]): ConfigIssue[] {
    const order = new Map(files.map((f, i) => [f, i]))
    const rank = (i: ConfigIssue): number[] =>
      i.location === undefined ? [-1, 0, 0] : [order.get(i.location.file) ?? files.length, i.location.line, i.location.column]
    const seen = new Set<string>()
    return this.list
      .map((issue, index) => ({ issue, index, rank: rank(issue) }))
      .sort((a, b) => a.rank[0]! - b.rank[0]! || a.rank[1]! - b.rank[1]! || a.rank[2]! - b.rank[2]! || a.index - b.index)
      .map((x) => x.issue)
      .filter((i) => {
        const k = formatIssueRelativeTo(i, '/')
        if (seen.has(k)) return false
        seen.add(k)
        return true
      })
  }
}
