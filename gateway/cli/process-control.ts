// Signals and fatal errors for `gateway start`, handled from the first moment
// (before the config is read), so that no signal ever meets Node's default
// action, which ends the process at once, without a drain:
// - SIGTERM / SIGINT during start-up abandon it (exit 0); once started, they
//   drain and stop the gateway (exit 0).
// - SIGHUP during start-up asks for a reload once started; later the gateway's
//   own listener reloads; while stopping it is ignored.
// - A repeated stop signal is logged and changes nothing (Ctrl-C under
//   `npm start` reaches the gateway twice: from the terminal, and from npm).
// - A bug that escapes every handler leaves state unknown: it is logged as JSON
//   like everything else and the process exits 1, so that the supervisor
//   starts a clean one.
import type { Logger } from 'pino'
import type { Gateway } from '../gateway.js'

/** The reason start-up was abandoned (the abort reason of ProcessControl.startup). */
export class StartupAbandoned extends Error {
  constructor (readonly signal: NodeJS.Signals) {
    super(`start-up abandoned on ${signal}`)
  }
}

export class ProcessControl {
  readonly #startup = new AbortController()
  #gateway: Gateway | undefined
  #afterStop: () => Promise<void> = async () => {}
  #stopSignal: NodeJS.Signals | undefined
  #reloadWhenStarted = false

  private constructor (readonly logger: Logger) {}

  static install (logger: Logger): ProcessControl {
    const control = new ProcessControl(logger)
    process.on('SIGTERM', control.#onStop)
    process.on('SIGINT', control.#onStop)
    process.on('SIGHUP', control.#onHup)
    process.on('uncaughtException', control.#fatal('uncaught exception'))
    process.on('unhandledRejection', control.#fatal('unhandled promise rejection'))
    return control
  }

  /** Aborted, with a StartupAbandoned reason, by SIGTERM / SIGINT before `started()`. */
  get startup (): AbortSignal { return this.#startup.signal }

  /** The gateway is up: stop signals now drain it, then `afterStop` runs and the process exits. */
  started (gw: Gateway, afterStop: () => Promise<void>): void {
    this.#gateway = gw
    this.#afterStop = afterStop
    // A stop signal that came after start-up's last look at `startup`.
    if (this.#stopSignal !== undefined) this.#drain(this.#stopSignal)
    else if (this.#reloadWhenStarted) void gw.reloader.reload('SIGHUP')
  }

  #onStop = (signal: NodeJS.Signals): void => {
    if (this.#stopSignal !== undefined) {
      this.logger.info({ signal }, 'already stopping; signal ignored')
      return
    }
    this.#stopSignal = signal
    if (this.#gateway === undefined) {
      this.logger.info({ signal }, 'stopping: start-up abandoned')
      this.#startup.abort(new StartupAbandoned(signal))
    } else {
      this.#drain(signal)
    }
  }

  #onHup = (): void => {
    if (this.#stopSignal !== undefined) {
      this.logger.info({ signal: 'SIGHUP' }, 'stopping; SIGHUP ignored')
    } else if (this.#gateway === undefined && !this.#reloadWhenStarted) {
      this.#reloadWhenStarted = true
      this.logger.info({ signal: 'SIGHUP' }, 'SIGHUP during start-up: the config is reloaded once started')
    }
  }

  #drain (signal: NodeJS.Signals): void {
    this.logger.info({ signal }, 'stopping: draining in-flight requests')
    this.#gateway!.stop().then(() => this.#afterStop()).then(() => process.exit(0), (err) => {
      this.logger.error({ err }, 'stop failed')
      process.exit(1)
    })
  }

  #fatal (kind: string) {
    return (err: unknown): void => {
      this.logger.fatal({ err }, `${kind}; exiting`)
      process.exit(1)
    }
  }
}
