#!/usr/bin/env node
// Entry point of the `xdeepserve` CLI: the compiled TypeScript lives in dist/ (built by `npm install`).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    process.stderr.write(`xdeepserve: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
