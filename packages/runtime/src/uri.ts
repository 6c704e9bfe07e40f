/** A TCP address. `host` is a name or an IP address (IPv6 without brackets). */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** The well-known port of each scheme Switchboard's dependencies use. */
const defaultPorts: Readonly<Record<string, number>> = {
  'mysql:': 3306,
  'mariadb:': 3306,
  'redis:': 6379,
  'rediss:': 6379,
  'amqp:': 5672,
  'amqps:': 5671,
  'http:': 80,
  'https:': 443,
};

const hostPortPattern = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/[\]@]+)):(\d{1,5})$/;

/** `host:port` or `[v6]:port`, or undefined when the text is not one. */
export function tryParseHostPort(input: string): HostPort | undefined {
  const match = hostPortPattern.exec(input.trim());
  if (match === null) return undefined;
  const port = Number(match[3]);
  const host = match[1] ?? match[2];
  if (host === undefined || port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** Parses `host:port` (or `[v6]:port`); throws a TypeError naming the bad input. */
export function parseHostPort(input: string): HostPort {
  const parsed = tryParseHostPort(input);
  if (parsed === undefined) {
    throw new TypeError(`expected host:port with a port in 1..65535, got "${input}"`);
  }
  return parsed;
}

/** The host and port a URI points at, or undefined when it has no host or no known port. */
export function tryUriHostPort(uri: string): HostPort | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? defaultPorts[url.protocol] : Number(url.port);
  if (host === '' || port === undefined) return undefined;
  return { host, port };
}

/**
 * The host and port a URI such as `mysql://user:pw@db:3306/app` points at, with the scheme's
 * well-known port when the URI names none. Throws a TypeError (with credentials masked) when the
 * URI has no host, or no port and an unknown scheme.
 */
export function uriHostPort(uri: string): HostPort {
  const parsed = tryUriHostPort(uri);
  if (parsed === undefined) {
    throw new TypeError(`cannot find host and port in "${redactUri(uri)}"`);
  }
  return parsed;
}

/** Formats an address as `host:port`, bracketing IPv6 hosts. */
export function formatHostPort(address: HostPort): string {
  return address.host.includes(':')
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

// The password runs to the last `@` before whitespace: masking too much is harmless, while a
// password with an unencoded `/` must not stay visible.
const credentialPattern = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]*:)[^\s@]*@/gi;

/** The URI with its password (if any) replaced by `***`; the user name stays for diagnosis. */
export function redactUri(uri: string): string {
  return redactCredentials(uri);
}

/** Masks the password of every URI inside a text, e.g. an error message quoting a DSN. */
export function redactCredentials(text: string): string {
  return text.replace(credentialPattern, '$1***@');
}
