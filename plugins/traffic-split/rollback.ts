// PLACEHOLDER, so the [split] branch compiles: the real RollbackGuard is
// written by [rollback] and replaces this file at merge. Same exported names
// and contract (docs: issue 8); this one never rolls back.
import type { PluginEnv, UpstreamOutcome } from '../types.js'
import type { RollbackOptions } from './options.js'

export class RollbackGuard {
  constructor (readonly options: RollbackOptions, readonly sides: { from: string; to: string }, readonly ramp: { key: string }, _env: PluginEnv) {}

  observe (_side: string, _o: UpstreamOutcome): void {}

  get rolledBack (): boolean {
    return false
  }

  status (): Record<string, unknown> {
    return { decision: 'none', placeholder: true }
  }

  close (): void {}
}
