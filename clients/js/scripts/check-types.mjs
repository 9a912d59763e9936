// The declarations in types/ are generated from the JSDoc in src/ (`npm run types`); this fails
// when they differ from what the JSDoc generates now, so they cannot drift from the code.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'node_modules/.bin');

/** @param {string} dir @returns {string[]} */
function files(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)))
    .sort();
}

const fresh = mkdtempSync(join(tmpdir(), 'ws-bridge-types-'));
try {
  execFileSync(join(bin, 'tsc'), ['-p', 'tsconfig.types.json', '--outDir', fresh], { cwd: root, stdio: 'inherit' });
  execFileSync(join(bin, 'prettier'), ['--write', '--log-level', 'warn', '--config', '.prettierrc.json', fresh], {
    cwd: root,
    stdio: 'inherit',
  });
  const committed = join(root, 'types');
  assert.deepEqual(files(committed), files(fresh), 'types/ lists other files than the JSDoc generates: npm run types');
  for (const file of files(fresh)) {
    const want = readFileSync(join(fresh, file), 'utf8');
    assert.ok(readFileSync(join(committed, file), 'utf8') === want, `types/${file} is stale: npm run types`);
  }
  console.log(`check-types: types/ matches the JSDoc of src/ (${files(fresh).length} files)`);
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
