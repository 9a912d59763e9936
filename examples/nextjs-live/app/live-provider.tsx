'use client';
// One ws-bridge connection for every page under the layout: navigating between them keeps it.
// The WebSocket is opened in the browser after mount; on the server this renders its children.
import { WsBridgeProvider } from '@ws-bridge/client/react';
import type { ReactNode } from 'react';

export function LiveProvider({
  wsUrl,
  statusUrl,
  children,
}: {
  wsUrl: string;
  statusUrl: string;
  children: ReactNode;
}) {
  return (
    <WsBridgeProvider url={wsUrl} statusUrl={statusUrl} tokenUrl="/api/ws-token">
      {children}
    </WsBridgeProvider>
  );
}
