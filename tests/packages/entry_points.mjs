// Node imports each entry point of the installed @ws-bridge/client as a user's program would, from
// the clean project tests/packages/check_packages.py made (node entry_points.mjs VERSION).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const [version] = process.argv.slice(2);
const installed = fileURLToPath(new URL('./node_modules/@ws-bridge/client/', import.meta.url));

const main = await import('@ws-bridge/client');
assert.equal(typeof main.WsBridgeClient, 'function');
assert.equal(typeof main.WsBridgeError, 'function');
const react = await import('@ws-bridge/client/react');
assert.equal(typeof react.useWsBridge, 'function');
const publisher = await import('@ws-bridge/client/publisher');
assert.equal(typeof publisher.WsBridgePublisher, 'function');
for (const name of [
  'BadRequest',
  'Unauthorized',
  'ConnectionGone',
  'DeliveryFailed',
  'Unavailable',
  'TransportError',
]) {
  assert.ok(publisher[name].prototype instanceof publisher.WsBridgeApiError, `${name} is a WsBridgeApiError`);
}
const pkg = createRequire(import.meta.url)('@ws-bridge/client/package.json');
assert.equal(pkg.version, version);

for (const entry of [
  '@ws-bridge/client',
  '@ws-bridge/client/react',
  '@ws-bridge/client/publisher',
  '@ws-bridge/client/package.json',
]) {
  const file = fileURLToPath(import.meta.resolve(entry));
  assert.ok(file.startsWith(installed), `${entry} resolved to ${file}, not the installed package`);
}
// Each export's declared types are in the tarball (TypeScript would otherwise fall back silently to a
// .d.ts beside the .js, or to none).
for (const [entry, target] of Object.entries(pkg.exports)) {
  if (typeof target !== 'object') continue;
  assert.ok(existsSync(new URL(target.types, `file://${installed}`)), `${entry}: no ${target.types}`);
}
console.log(`entry_points.mjs: @ws-bridge/client ${pkg.version} imports from the tarball (., ./react, ./publisher)`);
