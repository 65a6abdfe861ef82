// The `isoproxy` command: a table of subcommands, each in src/commands/<name>.ts exporting
// `run(argv): Promise<number>` (the exit code). Modules load lazily so `--help` stays fast.

import { pathToFileURL } from 'node:url';
import { IsoproxyError } from './errors.js';

interface Command {
  readonly summary: string;
  readonly load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const commands: Record<string, Command> = {
  demo: { summary: 'run the proxy on an embedded demo ISO and demo node (what `npm start` does)', load: () => import('./commands/demo.js') },
  serve: { summary: 'serve /iso/<node>.iso to BMCs and the admin API to conductors', load: () => import('./commands/serve.js') },
  status: { summary: "show a running server's nodes by state, stalled ones and top transfers", load: () => import('./commands/status.js') },
  inspect: { summary: "show an ISO's volume, trees, boot entries, partitions and boot configs", load: () => import('./commands/inspect.js') },
  preview: { summary: "show the diff of the boot configs a node's edits would produce", load: () => import('./commands/preview.js') },
  materialize: { summary: 'write base ⊕ patch set for some edits to a file', load: () => import('./commands/materialize.js') },
  attach: { summary: "point a BMC's Redfish VirtualMedia at a node's URL and boot once from CD", load: () => import('./commands/attach.js') },
  detach: { summary: "eject a BMC's virtual media and clear the boot override", load: () => import('./commands/detach.js') },
  ironic: { summary: 'check what isoproxy would serve for an Ironic node (`ironic check <node>`)', load: () => import('./commands/ironic.js') },
  'bmc-sim': { summary: 'run a Redfish BMC simulator with selectable vendor quirks', load: () => import('./commands/bmc-sim.js') },
};

export function usage(): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return ['Usage: isoproxy <command> [options]', '', 'Commands:', ...lines, '', "Run `isoproxy <command> --help` for a command's options."].join(
    '\n',
  );
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`isoproxy: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    // Expected failures (a bad ISO, a bad edit, an unreachable upstream) are one clear line;
    // anything else keeps its stack for a bug report.
    if (err instanceof IsoproxyError || isSystemError(err)) console.error(`isoproxy ${name}: ${err.message}`);
    else console.error(`isoproxy ${name}:`, err);
    return 1;
  }
}

/**
 * An error the operating system gave (a port taken or not ours to bind, a directory we may not
 * write): Node's message names the call, the code and the address or path in one line.
 */
function isSystemError(err: unknown): err is Error & { code: string; syscall: string } {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && typeof (err as { syscall?: unknown }).syscall === 'string';
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`isoproxy: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
