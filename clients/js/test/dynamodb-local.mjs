// DynamoDB Local for a test, on a port of its own, that the test can stop and start again (a store
// outage): the recovery tests and the publisher's 503 tests use it.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot, waitFor } from './browser.mjs';

/** The gateway's flags and environment for a store on `endpoint`. */
export function onDynamoDb(/** @type {string} */ endpoint) {
  return {
    args: ['--store', 'dynamodb', '--dynamodb-endpoint', endpoint],
    env: {
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
      // With the store stopped, fail at once instead of after the SDK's own retries.
      AWS_MAX_ATTEMPTS: '1',
    },
  };
}

/** The folder holding DynamoDBLocal.jar (env DYNAMODB_LOCAL_HOME, else installed by the script). */
function dynamodbLocalHome() {
  const given = process.env.DYNAMODB_LOCAL_HOME;
  const home =
    given && given !== ''
      ? given
      : execFileSync(join(repoRoot, 'infra', 'dynamodb-local.sh'), ['home'], { encoding: 'utf8' }).trim();
  if (!existsSync(join(home, 'DynamoDBLocal.jar'))) throw new Error(`no DynamoDBLocal.jar in ${home}`);
  return home;
}

/**
 * DynamoDB Local of this test on a port of its own, its data on disk so that it is all there
 * again after a stop and start (a store outage, not a new store). Stopped by PID.
 */
export async function startDynamoDbLocal() {
  const home = dynamodbLocalHome();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ws-bridge-recovery-ddb-'));
  /** @type {import('node:child_process').ChildProcess | null} */
  let child = null;
  let output = '';
  const answers = () =>
    fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    );
  const start = async () => {
    const proc = spawn(
      'java',
      [
        `-Djava.library.path=${join(home, 'DynamoDBLocal_lib')}`,
        '-jar',
        join(home, 'DynamoDBLocal.jar'),
        '-sharedDb',
        '-dbPath',
        dir,
        '-port',
        String(port),
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout?.on('data', (chunk) => (output = (output + chunk).slice(-5_000)));
    proc.stderr?.on('data', (chunk) => (output = (output + chunk).slice(-5_000)));
    child = proc;
    await waitFor(answers, { timeoutMs: 60_000, intervalMs: 100, what: `DynamoDB Local on ${port}: ${output}` });
  };
  const stop = async () => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  process.on('exit', () => {
    if (child?.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    start,
    stop,
    remove: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
