// The `gateway` command's usage text, and the error for a mistake in how it
// was called (answered with one line and this text, exit 2, never a stack trace).

export const USAGE = `usage:
  gateway start --config FILE [--demo]   run the gateway (--demo also starts the blue/green demo upstreams
                                         on 127.0.0.1:9001/9002; a later --no-demo cancels it)
  gateway validate FILE...               check configs; exit 0 when all are valid, 1 with file:line:column errors otherwise
  gateway cutover ROUTE --config FILE ACTION [--dry-run]
                                         edit ROUTE's traffic-split in the file that defines it (comments and
                                         layout kept), validate the whole config, write it atomically; the
                                         running gateway reloads it. --dry-run prints the diff, writes nothing.
                                         ACTION: --to COLOUR                 make COLOUR active (the old one becomes previous)
                                                 --rollback                  back to the previous colour
                                                 --ramp DURATION [--to C]    move traffic to the other side (or C), linearly
                                                 --steps 5,25,50,100 --every DURATION [--to C]   ... by steps
                                                 --status                    ask the running gateway (admin API)
  gateway help                           this text (also COMMAND --help)
environment:
  LOG_LEVEL   trace, debug, info (default), warn, error, fatal or silent
`

export class UsageError extends Error {}
