import { runCli } from './program.js';

await runCli();
