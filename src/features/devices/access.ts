/**
 * Who may see or manage a device. A device belongs to an organisation and,
 * once assigned, to a patient: staff (admin, clinician) of the organisation
 * manage every device; others see a device exactly when they may see its
 * patient (the identity policy decides). Anything else is 404.
 */
import { AppError } from '../../errors.js';
import type { UserPrincipal } from '../identity/principal.js';
import { STAFF_ROLES, type Policy } from '../identity/policy.js';
import type { DeviceDoc, DeviceModels } from './models.js';

export type DeviceAction = 'device.read' | 'device.manage';

export function createDeviceAccess(models: DeviceModels, policy: Policy) {
  return async function assertDevice(principal: UserPrincipal, deviceId: string, action: DeviceAction): Promise<DeviceDoc> {
    const device = await models.Device.findOne({ _id: deviceId, organisationId: principal.organisationId }).lean<DeviceDoc>();
    if (!device) throw new AppError('not_found', 'Device not found');
    if (STAFF_ROLES.has(principal.role)) return device;
    if (!device.patientId) throw new AppError('not_found', 'Device not found');
    await policy.assertPatient(principal, String(device.patientId), action).catch((error: unknown) => {
      // Seeing the patient but not managing it is a 403; not seeing the patient hides the device too.
      throw error instanceof AppError && error.code === 'not_found' ? new AppError('not_found', 'Device not found') : error;
    });
    return device;
  };
}

export type AssertDevice = ReturnType<typeof createDeviceAccess>;
