// Image references, normalized exactly as docker does (distribution/reference
// ParseNormalizedNamed): "busybox" is docker.io/library/busybox:latest.
import { GlassboxError } from '../util/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const domain = `(?:${domainName}|${ipv6})(?::[0-9]+)?`;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const DOMAIN = new RegExp(`^${domain}$`);
const PATH = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const IDENTIFIER = /^[a-f0-9]{64}$/;
const NAME_TOTAL_LENGTH_MAX = 255;

export interface Reference {
  /** Registry host as named: docker.io, 127.0.0.1:5000, ghcr.io. */
  domain: string;
  /** Repository path inside the registry: library/busybox. */
  path: string;
  tag?: string;
  digest?: string;
}

function invalid(input: string, why: string): GlassboxError {
  return new GlassboxError(`invalid reference format: ${why}`, { op: 'parse', subject: JSON.stringify(input), code: 'EINVAL' });
}

function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  let dom: string;
  let rest: string;
  if (i === -1) {
    dom = DEFAULT_DOMAIN;
    rest = name;
  } else {
    const first = name.slice(0, i);
    const looksLikeDomain = /[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first;
    if (looksLikeDomain) {
      dom = first;
      rest = name.slice(i + 1);
    } else {
      dom = DEFAULT_DOMAIN;
      rest = name;
    }
  }
  if (dom === LEGACY_DEFAULT_DOMAIN) dom = DEFAULT_DOMAIN;
  if (dom === DEFAULT_DOMAIN && !rest.includes('/')) rest = OFFICIAL_REPO_PREFIX + rest;
  return [dom, rest];
}

/** Parse any reference docker accepts, and normalize it as docker does. */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === '') throw invalid(input, 'empty');
  if (IDENTIFIER.test(s)) {
    throw invalid(input, 'cannot specify 64-byte hexadecimal strings as a repository name');
  }
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `bad digest "${digest}"`);
    const [algo, hex] = digest.split(':') as [string, string];
    if (algo === 'sha256' && !/^[a-f0-9]{64}$/.test(hex)) throw invalid(input, `bad sha256 digest "${digest}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `bad tag "${tag}"`);
  }
  const [dom, path] = splitDomain(rest);
  if (!DOMAIN.test(dom)) throw invalid(input, `bad registry host "${dom}"`);
  if (path.toLowerCase() !== path) throw invalid(input, 'repository name must be lowercase');
  if (!PATH.test(path)) throw invalid(input, `bad repository name "${path}"`);
  if (dom.length + 1 + path.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (!tag && !digest) tag = DEFAULT_TAG;
  return { domain: dom, path, tag, digest };
}

/** docker.io/library/busybox */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full normalized form: docker.io/library/busybox:latest, or with @digest. */
export function formatReference(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** The short form docker prints: busybox:latest, 127.0.0.1:5000/x:1. */
export function familiarName(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path.startsWith(OFFICIAL_REPO_PREFIX) ? ref.path.slice(OFFICIAL_REPO_PREFIX.length) : ref.path;
  }
  if (ref.tag) name += `:${ref.tag}`;
  if (ref.digest) name += `@${ref.digest}`;
  return name;
}

/** Where the registry API lives: docker.io's is registry-1.docker.io. */
export function registryEndpointHost(domainName: string): string {
  return domainName === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domainName;
}

/** Hosts docker treats as insecure by default: loopback. */
export function isLoopbackHost(domainName: string): boolean {
  const host = domainName.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
