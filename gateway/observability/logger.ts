// The process logger (pino, JSON lines on stdout). Access-log lines are written
// through a buffer (flushed when 4 KiB are pending, every 100 ms, and on exit)
// instead of one write syscall per request.
import { pino, destination as pinoDestination, type Logger } from 'pino'

export function createLogger (level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const destination = pinoDestination({ dest: 1, sync: false, minLength: 4096 })
  const timer = setInterval(() => destination.flush(), 100)
  timer.unref()
  process.once('exit', () => {
    clearInterval(timer)
    try {
      destination.flushSync()
    } catch {
      // stdout already gone: nothing left to save.
    }
  })
  return pino({ level }, destination)
}
