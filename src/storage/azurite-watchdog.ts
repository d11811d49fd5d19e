/**
 * Runs Azurite as our grandchild and kills it when our stdin closes. The
 * parent holds the other end of that pipe, so when the parent dies (even by
 * SIGKILL, when no handler of its own can run) the kernel closes the pipe and
 * Azurite goes with it: no orphan keeps the ports and the data files.
 */
import { spawn } from 'node:child_process';

const [azuriteBin, ...args] = process.argv.slice(2);
if (!azuriteBin) {
  process.stderr.write('usage: azurite-watchdog <azurite-bin> [args...]\n');
  process.exit(2);
}

const child = spawn(process.execPath, [azuriteBin, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;

function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  child.kill(signal);
  // Azurite flushes its Loki files on SIGTERM; give it a moment, then make sure.
  setTimeout(() => child.kill('SIGKILL'), 5000).unref();
}

process.stdin.on('end', () => stop('SIGTERM'));
process.stdin.on('error', () => stop('SIGTERM'));
process.stdin.resume();
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
