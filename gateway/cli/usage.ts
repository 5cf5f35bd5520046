// The `gateway` command's usage text, and the error for a mistake in how it
// was called (answered with one line and this text, exit 2, never a stack trace).

export const USAGE = `usage:
  gateway start --config FILE [--demo]   run the gateway (--demo also starts the blue/green demo upstreams
                                         on 127.0.0.1:9001/9002; a later --no-demo cancels it)
  gateway validate FILE...               check configs; exit 0 when all are valid, 1 with file:line:column errors otherwise
  gateway help                           this text (also COMMAND --help)
environment:
  LOG_LEVEL   trace, debug, info (default), warn, error, fatal or silent
`

export class UsageError extends Error {}
