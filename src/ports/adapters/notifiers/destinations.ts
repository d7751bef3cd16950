/**
 * Where outgoing notifications may connect. Policy endpoints are written by
 * clinicians, not operators, and the delivery log shows every attempt's
 * status and error to whoever may read the alert: a URL pointing inside the
 * hub's network (loopback, RFC 1918, link-local with the cloud metadata
 * service, CGNAT, unique-local IPv6…) would make the hub a request forgery
 * tool with a response oracle. So only public unicast addresses are allowed,
 * plus the non-public networks the operator lists (NOTIFY_ALLOWED_PRIVATE_NETWORKS)
 * for a gateway or receiver on the internal network.
 *
 * The check is made on the address actually connected to: a host name is
 * resolved by `lookup` (given to the HTTP agent), every address it resolves
 * to is checked, and the socket connects to the checked addresses — a DNS
 * answer that changes between check and connect (rebinding) cannot slip by.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** The attempt error (and notification reason) of a refused destination. */
export const DESTINATION_NOT_ALLOWED = 'destination_not_allowed';

/** Raised by the guard's lookup; the request fails with it before any connection is made. */
export class DestinationNotAllowedError extends Error {
  readonly code = DESTINATION_NOT_ALLOWED;
  constructor(readonly host: string) {
    super(`${host} resolves to an address notifications may not reach`);
    this.name = 'DestinationNotAllowedError';
  }
}

export interface DestinationGuard {
  /** True when a notification may connect to this IP address. */
  allowsAddress(address: string): boolean;
  /**
   * What can be told from a URL alone, at policy write time: true when its host is an IP literal,
   * or a `localhost` name, that may not be reached. Other names are judged when resolved, at send time.
   */
  refusesUrl(url: string): boolean;
  /** For `net.connect`: resolves, refuses the name unless every address is allowed, else answers them. */
  readonly lookup: LookupFunction;
}

type Network = [ipaddr.IPv4 | ipaddr.IPv6, number];

// IPv4-compatible IPv6 (::a.b.c.d, deprecated by RFC 4291) is not in ipaddr.js's ranges and carries
// an IPv4 address (::7f00:1 is 127.0.0.1): nothing public is reached that way.
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

const inNetwork = (ip: ipaddr.IPv4 | ipaddr.IPv6, [network, bits]: Network): boolean => ip.kind() === network.kind() && ip.match(network, bits);

/**
 * Public unicast only: ipaddr.js names every special-purpose range (loopback, private, linkLocal,
 * carrierGradeNat, uniqueLocal, multicast, unspecified, broadcast, reserved, the IPv4-embedding
 * IPv6 prefixes…) and calls the rest `unicast`.
 */
function isPublic(ip: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return ip.range() === 'unicast' && !inNetwork(ip, IPV4_COMPATIBLE);
}

/** An address as the kernel will use it: IPv4-mapped IPv6 (::ffff:127.0.0.1) judged as its IPv4. */
function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  try {
    return ipaddr.process(address);
  } catch {
    return null;
  }
}

/** `[::1]` → `::1`, `localhost.` → `localhost`: a URL's host as an address or a name. */
const bareHost = (hostname: string): string => hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '').toLowerCase();

// RFC 6761: localhost and every name under it are loopback, whatever a resolver says.
const isLocalhostName = (host: string): boolean => host === 'localhost' || host.endsWith('.localhost');

/** `allowedPrivateNetworks`: CIDR ranges (`10.20.0.0/16`, `fd00::/8`), as config.ts validated them. */
export function createDestinationGuard(allowedPrivateNetworks: readonly string[] = []): DestinationGuard {
  const allowed: Network[] = allowedPrivateNetworks.map((cidr) => ipaddr.parseCIDR(cidr));

  function allowsAddress(address: string): boolean {
    const ip = parseAddress(address);
    // Unparseable (a zone id the library refuses…): not known to be public, so refused.
    if (!ip) return false;
    return isPublic(ip) || allowed.some((network) => inNetwork(ip, network));
  }

  function refusesUrl(url: string): boolean {
    let host: string;
    try {
      host = bareHost(new URL(url).hostname);
    } catch {
      return true;
    }
    // The URL parser has already normalised other IPv4 spellings (2130706433, 0x7f.1, 127.1) to dotted form.
    if (isIP(host)) return !allowsAddress(host);
    // Judged as the address localhost names everywhere; send time checks what it really resolves to.
    if (isLocalhostName(host)) return !allowsAddress('127.0.0.1');
    return false;
  }

  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { family: options.family, hints: options.hints, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, '', 0);
      // Every address, not only the first: net may try them all (autoSelectFamily).
      if (!addresses.length || !addresses.every(({ address }) => allowsAddress(address))) return callback(new DestinationNotAllowedError(hostname), '', 0);
      if (options.all) return callback(null, addresses);
      const [first] = addresses as [LookupAddress];
      callback(null, first.address, first.family);
    });
  };

  return { allowsAddress, refusesUrl, lookup };
}
