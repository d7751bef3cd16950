export { createSocketNotifier } from './socket.js';
export { createWebhookNotifier } from './webhook.js';
export { createHttpGatewayNotifier, messageText } from './http-gateway.js';
export { sign, signedPost, verifySignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './signing.js';
export { createDestinationGuard, DESTINATION_NOT_ALLOWED, type DestinationGuard } from './destinations.js';
