// Replaces a file's content all at once: a reader (the gateway's file watcher
// and reloader) sees the old text or the new one, never half of it. The new
// text goes to a temp file in the same directory (a dot name, which the config
// watcher ignores), is flushed to disk, takes the old file's mode and owner,
// and is renamed over it. A symlinked file is replaced where the link points.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import { basename, dirname, join } from 'node:path'

export class FileChangedError extends Error {}

/**
 * Writes `text` to `file` atomically. `expected`: the text the change was made
 * from; when the file no longer holds it (edited meanwhile), nothing is written
 * and FileChangedError is thrown.
 */
export function writeFileAtomic (file: string, text: string, expected?: string): void {
  const target = fs.realpathSync(file)
  const stat = fs.statSync(target)
  const dir = dirname(target)
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fd = fs.openSync(tmp, 'wx', stat.mode & 0o777)
  try {
    try {
      fs.writeFileSync(fd, text)
      fs.fchmodSync(fd, stat.mode & 0o7777) // the umask may have narrowed the mode given to open
      try {
        fs.fchownSync(fd, stat.uid, stat.gid)
      } catch {
        // Only root may give a file away: the owner is then whoever runs the command.
      }
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    if (expected !== undefined && fs.readFileSync(target, 'utf8') !== expected) {
      throw new FileChangedError(`${file} changed while the edit was prepared; nothing written (run the command again)`)
    }
    fs.renameSync(tmp, target)
  } catch (err) {
    fs.rmSync(tmp, { force: true })
    throw err
  }
  syncDirectory(dir)
}

/** Flushes the directory entry of the rename (not possible on every platform: then skipped). */
function syncDirectory (dir: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(dir, 'r')
    fs.fsyncSync(fd)
  } catch {
    // Windows cannot open a directory.
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
