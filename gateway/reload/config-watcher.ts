// Watches the directories holding the config files (a directory watch survives
// editors that save by renaming a temp file over the original) and calls back
// once per burst of events: an editor's save or a `git pull` touching fifty
// files gives one reload. Under continuous churn (a discovery feed rewriting a
// file every 100 ms) a reload still happens at least every `maxWaitMs`.
import { statSync, watch, type FSWatcher } from 'node:fs'
import { dirname, basename, join } from 'node:path'

export class ConfigWatcher {
  #watchers = new Map<string, FSWatcher>()
  #files = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  /** When the first event of the current burst arrived (0: no burst pending). */
  #burstStart = 0
  #closed = false

  constructor (readonly onChange: () => void, readonly debounceMs = 200, readonly maxWaitMs = 1000) {}

  /**
   * Watches exactly the directories of these files, and each listed directory
   * itself (an included directory: a file added to it is a change even when it
   * held none before). Call again after each reload.
   */
  setFiles (files: readonly string[]): void {
    if (this.#closed) return
    this.#files = new Set(files)
    const dirs = new Set(files.map((f) => dirname(f)))
    for (const f of files) if (isDirectory(f)) dirs.add(f)
    for (const [dir, w] of this.#watchers) {
      if (!dirs.has(dir)) {
        w.close()
        this.#watchers.delete(dir)
      }
    }
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => this.#onEvent(dir, name))
        w.on('error', () => { this.#watchers.delete(dir) })
        this.#watchers.set(dir, w)
      } catch {
        // A directory that vanished is picked up again at the next successful reload.
      }
    }
  }

  #onEvent (dir: string, name: string | Buffer | null): void {
    if (name !== null) {
      const file = join(dir, name.toString())
      const isYaml = /\.ya?ml$/i.test(file)
      if (!this.#files.has(file) && !isYaml) return
      if (basename(file).startsWith('.')) return
    }
    const now = Date.now()
    if (this.#burstStart === 0) this.#burstStart = now
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    const wait = Math.max(0, Math.min(this.debounceMs, this.#burstStart + this.maxWaitMs - now))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#burstStart = 0
      this.onChange()
    }, wait)
    this.#timer.unref()
  }

  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
  }
}

function isDirectory (path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
