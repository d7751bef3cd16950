/* Generated from schemas/http/escalation-policy.json by scripts/gen-types.ts. Do not edit. */

/**
 * A 24-hex-digit id assigned by the hub.
 */
export type ObjectId = string;

/**
 * An escalation policy: ordered tiers (recipients, channels, delay after the previous tier), optional quiet hours in the patient's time zone (critical alerts ignore them), and the endpoints of outside channels. Replaces the whole policy.
 */
export interface EscalationPolicyInput {
  /**
   * @minItems 1
   * @maxItems 10
   */
  tiers: [
    {
      /**
       * @minItems 1
       * @maxItems 20
       *
       * Items: Exactly one of careTeam, role, userId.
       */
      recipients: [
        {
          careTeam?: {
            priority: number;
          };
          role?: 'admin' | 'clinician' | 'caregiver';
          userId?: ObjectId;
        },
        ...{
          careTeam?: {
            priority: number;
          };
          role?: 'admin' | 'clinician' | 'caregiver';
          userId?: ObjectId;
        }[]
      ];
      /**
       * @minItems 1
       */
      channels: ['socket' | 'webhook' | 'sms' | 'voice', ...('socket' | 'webhook' | 'sms' | 'voice')[]];
      /**
       * Minutes after the previous tier was notified, while nobody acknowledged, before this tier is. Ignored for the first tier.
       */
      delayMinutes?: number;
    },
    ...{
      /**
       * @minItems 1
       * @maxItems 20
       *
       * Items: Exactly one of careTeam, role, userId.
       */
      recipients: [
        {
          careTeam?: {
            priority: number;
          };
          role?: 'admin' | 'clinician' | 'caregiver';
          userId?: ObjectId;
        },
        ...{
          careTeam?: {
            priority: number;
          };
          role?: 'admin' | 'clinician' | 'caregiver';
          userId?: ObjectId;
        }[]
      ];
      /**
       * @minItems 1
       */
      channels: ['socket' | 'webhook' | 'sms' | 'voice', ...('socket' | 'webhook' | 'sms' | 'voice')[]];
      /**
       * Minutes after the previous tier was notified, while nobody acknowledged, before this tier is. Ignored for the first tier.
       */
      delayMinutes?: number;
    }[]
  ];
  /**
   * Local times (patient's zone); may wrap midnight.
   */
  quietHours?: {
    start: string;
    end: string;
  } | null;
  /**
   * @maxItems 10
   */
  webhooks?: {
    /**
     * Where to POST.
     */
    url: string;
    /**
     * HMAC-SHA256 key for X-Medhub-Signature; never shown again.
     */
    secret: string;
  }[];
  /**
   * HTTP SMS gateway.
   */
  sms?: {
    /**
     * Where to POST.
     */
    url: string;
    /**
     * HMAC-SHA256 key for X-Medhub-Signature; never shown again.
     */
    secret: string;
  } | null;
  /**
   * HTTP voice-call gateway.
   */
  voice?: {
    /**
     * Where to POST.
     */
    url: string;
    /**
     * HMAC-SHA256 key for X-Medhub-Signature; never shown again.
     */
    secret: string;
  } | null;
}
