/**
 * A caregiver's app, reduced to what a latency benchmark needs: its own
 * process, socket.io-client over a real WebSocket connection to the hub, and
 * one line on stdout per `alert:raised` with the time it arrived (epoch ms,
 * see wallNow). Started by alert-listener.ts; configured by environment:
 * LISTENER_URL (the hub's Socket.IO URL) and LISTENER_TOKEN (an access token).
 */
import { io } from 'socket.io-client';
import { wallNow } from './latency.js';

const url = process.env.LISTENER_URL;
const token = process.env.LISTENER_TOKEN;
if (!url || !token) throw new Error('LISTENER_URL and LISTENER_TOKEN are required');

const write = (line: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(line)}\n`);
const socket = io(url, { transports: ['websocket'], reconnection: false, auth: { token } });

socket.on('alert:raised', (alert: { id: string; cause: string; type: string; raisedAt: string }) => {
  const at = wallNow();
  write({ kind: 'alert', at, id: alert.id, cause: alert.cause, type: alert.type, raisedAt: alert.raisedAt });
});
socket.on('connect', () => {
  // A round trip proves the connection hooks (joining the patients' rooms) have run.
  void socket
    .timeout(10_000)
    .emitWithAck('patient:unsubscribe', { patientId: '0'.repeat(24) })
    .then(() => write({ kind: 'ready' }), (error: unknown) => write({ kind: 'error', message: String(error) }));
});
socket.on('connect_error', (error) => write({ kind: 'error', message: error.message }));
socket.on('disconnect', (reason) => write({ kind: 'disconnected', reason }));
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
