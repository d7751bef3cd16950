/**
 * The dispenser simulator as a library: one device (SimulatedDispenser) or a
 * fleet (startFleet), a clock that can run faster than real time, scenarios,
 * and the helpers a test or a benchmark needs around them.
 */
export { SimulatedDispenser } from './dispenser.js';
export type { DispenserOptions, DispenserStats, DispenserEvents, Logger, LogLevel } from './dispenser.js';
export { startFleet } from './fleet.js';
export type { Fleet, FleetOptions, FleetStats } from './fleet.js';
export { createSimClock, HOUR, MINUTE } from './clock.js';
export type { SimClock, SimClockOptions } from './clock.js';
export { createScenario, isScenarioName, SCENARIO_NAMES } from './scenarios.js';
export type { DoseOutcome, DosePlan, Scenario, ScenarioName, ScenarioOptions } from './scenarios.js';
export { buildDailySchedule, DEFAULT_WINDOW } from './demo-schedule.js';
export type { DailyDose, DailyScheduleOptions } from './demo-schedule.js';
export { startDemoSchedules } from './demo-publisher.js';
export type { DemoSchedules, DemoSchedulesOptions } from './demo-publisher.js';
export { generatedCredentials, readCredentialsFile, writeCredentialsFile } from './credentials.js';
export type { DeviceCredentials } from './credentials.js';
export { credentialsOf, liveMqttUrl, mqttUrlOf, provisionDevice, provisionDevices, ProvisioningError } from './provision.js';
export type { ProvisionedDevice, ProvisionRequest, ProvisionOptions, ProvisionFleetOptions } from './provision.js';
export { AckLog } from './ack-log.js';
export type { AckRecord } from './ack-log.js';
export { deviceTopic, topicContract, topicNameOf, TOPICS } from './topics.js';
export type { TopicContract, TopicName } from './topics.js';
export type * from './payloads.js';
