/**
 * A device changed (its patient, enabled or not, its secret): every hub instance forgets what it
 * keeps in memory about it, and the change may end its MQTT sessions — on whichever instance the
 * dispenser is connected to, not only on the one that served the request.
 */
import type { MqttTransport } from '../../transports/mqtt/broker.js';
import type { SocketTransport } from '../../transports/socket/server.js';
import type { DeviceDirectory } from './directory.js';

const DEVICE_CHANGED = 'peer:device-changed';

export function createDeviceChanges(directory: DeviceDirectory, mqtt: Pick<MqttTransport, 'disconnect'>, sockets: Pick<SocketTransport, 'toPeers' | 'onPeer'>) {
  function apply(deviceId: string, disconnect: boolean): void {
    directory.forget(deviceId);
    if (disconnect) mqtt.disconnect(deviceId);
  }

  sockets.onPeer(DEVICE_CHANGED, ({ deviceId, disconnect }) => {
    if (typeof deviceId === 'string') apply(deviceId, disconnect === true);
  });

  return {
    /** Called once the change is stored. */
    changed(deviceId: string, { disconnect }: { disconnect: boolean }): void {
      apply(deviceId, disconnect);
      sockets.toPeers(DEVICE_CHANGED, { deviceId, disconnect });
    },
  };
}

export type DeviceChanges = ReturnType<typeof createDeviceChanges>;
