#!/usr/bin/env node
// The expgen CLI launcher: npm links it into node_modules/.bin. The code it starts is compiled by `npm run build`
// (which `npm ci` runs through the root package's `prepare` script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('expgen: the CLI is not built yet: run "npm run build" in the expgen folder\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv.slice(2));
