#!/usr/bin/env node
import { Command, Option } from 'commander';
import { CliError, calendarDate, die, oneLine, positiveInt, seqNumber } from './cli/common';

/**
 * The `expense-export` bin: command definitions only; each command lives in
 * src/cli/. Bad input is one line on stderr and a non-zero exit; --help is
 * on every command.
 */

/** Runs a one-shot command, then exits once stdout is flushed (SDK keep-alive sockets must not hold us). */
const run =
  <A extends unknown[]>(load: () => Promise<(...args: A) => Promise<void>>) =>
  async (...args: A): Promise<void> => {
    await (
      await load()
    )(...args);
    process.stdout.write('', () => process.exit(process.exitCode ?? 0));
  };

const program = new Command('expense-export')
  .description('Exports approved expenses to on-premises payroll as CSV (or another layout)')
  .configureOutput({
    // Commander's parse errors (unknown option, missing value, bad number) as one line, pointing at --help.
    outputError: (str, write) => write(`expense-export: ${oneLine(str.replace(/^error: /, ''))} (see --help)\n`),
  })
  .showSuggestionAfterError(true);

program
  .command('serve', { isDefault: true })
  .description('run the HTTP API and the queue consumer (starts an embedded Azurite when no storage is configured)')
  .option('--no-demo', 'do not seed demo data into empty embedded storage')
  .action(async (opts: { demo: boolean }) => (await import('./cli/serve')).serveCommand(opts));

program
  .command('hash-password')
  .description('read a password from stdin and print its scrypt hash for AUTH_USERS')
  .action(run(async () => (await import('./cli/hash-password')).hashPasswordCommand));

program
  .command('seed')
  .description('create demo expenses through the same code paths as the API (and approve them)')
  .requiredOption('--count <n>', 'how many expenses', positiveInt(100_000))
  .option('--date <YYYY-MM-DD>', 'approve them on this date (in EXPORT_TIMEZONE) instead of now', calendarDate)
  .option('--approve', 'approve each one (queues it for export)', false)
  .option('--wait', 'with --approve: wait until a running server has exported them all', false)
  .option('--wait-timeout <seconds>', 'give up waiting after this long', positiveInt(86_400), 300)
  .action(run(async () => (await import('./cli/seed')).seedCommand));

program
  .command('export')
  .description("write a day's export as CSV, the same file GET /exports/:date serves, straight from the table")
  .requiredOption('--date <YYYY-MM-DD>', 'approval date', calendarDate)
  .option('--through <seq>', 'only rows 1..seq: the same bytes every time (default: the day as it stands)', seqNumber)
  .option('--after <seq>', 'only rows after seq (what landed since a pull of rows 1..seq)', seqNumber)
  .option('--out <file>', 'write to this file (complete or not at all) instead of stdout')
  .option('--url <server>', 'pull it from this running server over HTTP instead of storage (default: EXPENSE_EXPORT_URL)')
  .option(
    '--token <jwt>',
    'with --url: the bearer token to send, e.g. from Entra ID (default: EXPENSE_EXPORT_TOKEN; visible in ps, prefer the variable)',
  )
  .option('--layout <name>', 'the layout of the file (see `layouts list`)', 'v1')
  .action(run(async () => (await import('./cli/export')).exportCommand));

const layouts = program
  .command('layouts')
  .description('the layouts a day file can be written in (built-in and LAYOUTS_DIR)')
  .argument('[command]')
  .action((name?: string) =>
    die(name ? `unknown layouts command '${name}'; expected list, show or check` : 'layouts needs a command: list, show or check'),
  );
layouts
  .command('list')
  .description('every layout: name, version, grain, kind, encoding, source (JSON)')
  .action(run(async () => (await import('./cli/layouts')).layoutsListCommand));
layouts
  .command('show')
  .description('one layout as GET /layouts/{name} shows it (JSON)')
  .argument('<name>', 'the layout')
  .action(run(async () => (await import('./cli/layouts')).layoutsShowCommand));
layouts
  .command('check')
  .description('validate layout files as the server does at start, without starting anything (exit 2 with every problem)')
  .argument('<file...>', 'JSON or YAML layout files')
  .action(run(async () => (await import('./cli/layouts')).layoutsCheckCommand));

program
  .command('manifest')
  .description("a day's manifest: seq, row count, totals, state, acknowledgement (JSON, as GET /exports/:date/manifest)")
  .argument('<date>', 'approval date YYYY-MM-DD', calendarDate)
  .action(run(async () => (await import('./cli/days')).manifestCommand));

program
  .command('days')
  .description('the days with rows from..to, with their manifests (JSON, as GET /exports)')
  .requiredOption('--from <YYYY-MM-DD>', 'first day', calendarDate)
  .requiredOption('--to <YYYY-MM-DD>', 'last day (at most 366 days after --from)', calendarDate)
  .option('--unacknowledged', 'only days with rows beyond their acknowledgement', false)
  .action(run(async () => (await import('./cli/days')).daysCommand));

program
  .command('ack')
  .description('acknowledge that the on-premises system imported rows 1..N of a day (as POST /exports/:date/acknowledgements)')
  .argument('<date>', 'approval date YYYY-MM-DD', calendarDate)
  .requiredOption('--through <seq>', 'the last row imported', seqNumber)
  .action(run(async () => (await import('./cli/days')).ackCommand));

program
  .command('close')
  .description('close a day now (as POST /exports/:date/close); later rows still land in it, as late rows')
  .argument('<date>', 'approval date YYYY-MM-DD', calendarDate)
  .action(run(async () => (await import('./cli/days')).closeCommand));

const results = program
  .command('results')
  .description('results coming back from payroll')
  .argument('[command]')
  .action((name?: string) => die(name ? `unknown results command '${name}'; expected import` : 'results needs a command: import'));
results
  .command('import')
  .description('apply a results file (CSV, or JSON by its .json extension), as POST /results does; prints the same summary (JSON)')
  .argument('<file>', 'the file: expense_id,status,amount,currency,status_at,reference,message')
  .option('--idempotency-key <key>', "the import's key (default: the file's SHA-256, so importing the same file twice is harmless)")
  .option('--row-count <n>', 'the number of lines the file must hold (else nothing is applied)', seqNumber)
  .action(run(async () => (await import('./cli/results')).resultsImportCommand));

program
  .command('upgrade')
  .description(
    'number export rows an earlier release wrote without seq (the server does this at start; run it again after a rolling upgrade)',
  )
  .action(run(async () => (await import('./cli/days')).upgradeCommand));

const poison = program
  .command('poison')
  .description('inspect, replay and discard poisoned approval messages')
  .argument('[command]')
  .action((name?: string) =>
    die(name ? `unknown poison command '${name}'; expected list, replay or discard` : 'poison needs a command: list, replay or discard'),
  );
poison
  .command('list')
  .description('show poisoned messages with the reason (JSON; a peek, nothing is removed)')
  .option('--limit <n>', 'at most this many (the queue service peeks 32 at most)', positiveInt(32), 32)
  .action(run(async () => (await import('./cli/poison')).poisonListCommand));
poison
  .command('replay')
  .description('move poisoned messages back to the approval queue (JSON result)')
  .option('--max <n>', 'at most this many (default 32, or the number of --id)', positiveInt(10_000))
  .addOption(new Option('--id <messageId...>', 'only these poison message ids (see poison list)'))
  .action(run(async () => (await import('./cli/poison')).poisonReplayCommand));
poison
  .command('discard')
  .description('delete reviewed poison messages for good (JSON result; an audit line with a SHA-256 of each body on stderr)')
  .addOption(new Option('--id <messageId...>', 'the poison message ids to delete (see poison list)').makeOptionMandatory())
  .action(run(async () => (await import('./cli/poison')).poisonDiscardCommand));

const deliveries = program
  .command('deliveries')
  .description('the delivery ledger: files pushed to blob and SFTP targets')
  .argument('[command]')
  .action((name?: string) =>
    die(name ? `unknown deliveries command '${name}'; expected list or redeliver` : 'deliveries needs a command: list or redeliver'),
  );
deliveries
  .command('list')
  .description('deliveries by day, target and state (JSON, as GET /deliveries)')
  .option('--date <YYYY-MM-DD>', 'only this approval date (default: the last DELIVERY_LOOKBACK_DAYS days)', calendarDate)
  .option('--target <name>', 'only this target')
  .addOption(new Option('--state <state>', 'only this state').choices(['pending', 'delivering', 'delivered', 'failed']))
  .action(run(async () => (await import('./cli/deliveries')).deliveriesListCommand));
deliveries
  .command('redeliver')
  .description(
    "deliver a day's files to a target again under new names (-r<n>); never overwrites (as POST /deliveries/{target}/{date}/redeliver)",
  )
  .argument('<target>', 'the target name')
  .argument('<date>', 'approval date YYYY-MM-DD', calendarDate)
  .option('--now', 'send them from this command instead of leaving them to a running server', false)
  .action(run(async () => (await import('./cli/deliveries')).redeliverCommand));

program
  .command('status')
  .description('queue depths, pending outbox entries and where storage is (JSON)')
  .action(run(async () => (await import('./cli/status')).statusCommand));

// `serve` is the default, so commander would read a mistyped command as an argument to serve.
const first = process.argv[2];
if (
  first !== undefined &&
  first !== 'help' &&
  !first.startsWith('-') &&
  !program.commands.some((c) => c.name() === first || c.aliases().includes(first))
) {
  die(`unknown command '${first}' (see expense-export --help)`);
}

program.parseAsync().catch((err: Error) => die(err.message, err instanceof CliError ? err.exitCode : 1));
