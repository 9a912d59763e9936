// The Next.js configuration of the example. The repository's root is the project's root for the
// bundler and the file tracer: @ws-bridge/client is the repository's clients/js, linked by
// `file:../../clients/js`, outside this folder.
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** @type {import('next').NextConfig} */
const config = {
  reactStrictMode: true,
  poweredByHeader: false,
  turbopack: { root: repoRoot },
  outputFileTracingRoot: repoRoot,
};

export default config;
