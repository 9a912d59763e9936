// The root layout (a server component): the live connection's provider around every page, with
// the gateway's URLs read from the server's environment at request time.
import type { Metadata } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import { settings } from '@/lib/settings';
import { LiveProvider } from './live-provider';

export const dynamic = 'force-dynamic';

export const metadata: Metadata = { title: 'ws-bridge live updates' };

export default function RootLayout({ children }: { children: ReactNode }) {
  const { wsUrl, httpUrl } = settings();
  return (
    <html lang="en">
      <body>
        <nav>
          <Link href="/">Updates</Link> · <Link href="/about">About</Link>
        </nav>
        <LiveProvider wsUrl={wsUrl} statusUrl={httpUrl}>
          {children}
        </LiveProvider>
      </body>
    </html>
  );
}
