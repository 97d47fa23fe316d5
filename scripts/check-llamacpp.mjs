// `npm run check:llamacpp`: our engine vs llama.cpp (node-llama-cpp@3.21.1, installed on demand
// into .cache/llamacpp) on each supported architecture's tiny model. See docs/llamacpp-check.md.
// Runs the compiled code in dist/ (the npm script builds first); flags are passed through:
//   --engine runner|reference   --backend reference|native|auto   --only NAME   --steps N   --keep
import { checkLlamaCppMain } from '../dist/llamacpp/check-main.js';

checkLlamaCppMain(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`check-llamacpp: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
