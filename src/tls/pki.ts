// A small certificate authority: ECDSA P-256 keys, X.509 certificates for a CA, TLS servers and
// TLS clients, all as PEM. Used by the lab (kube-apiserver, admin client) and by the operator for
// its own webhook and issuer certificates, so no openssl binary is needed anywhere.
// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs this polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
const crypto = webcrypto;
x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const EC_KEY: webcrypto.EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const SIGNING: webcrypto.EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export interface KeyPairPem {
  /** PKCS#8 private key, PEM. A secret: never log it. */
  readonly privateKeyPem: string;
  /** SubjectPublicKeyInfo, PEM. */
  readonly publicKeyPem: string;
}

export interface CertifiedKey extends KeyPairPem {
  readonly certPem: string;
  readonly notAfter: Date;
}

export interface Authority extends CertifiedKey {
  readonly keys: CryptoKeyPair;
  readonly cert: x509.X509Certificate;
}

export interface LeafRequest {
  readonly commonName: string;
  /** Organisations (Kubernetes reads these as groups for client certificates). */
  readonly organizations?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly usage: 'server' | 'client' | 'both';
  readonly validDays?: number;
  /** Defaults to the time of the call; injected in tests. */
  readonly now?: Date;
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function exportPair(keys: CryptoKeyPair): Promise<KeyPairPem> {
  return {
    privateKeyPem: toPem(await crypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'),
    publicKeyPem: toPem(await crypto.subtle.exportKey('spki', keys.publicKey), 'PUBLIC KEY'),
  };
}

function distinguishedName(commonName: string, organizations: readonly string[] = []): string {
  const escape = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${escape(commonName)}`, ...organizations.map((o) => `O=${escape(o)}`)].join(', ');
}

/** A key pair on its own, e.g. the service-account token signing key. */
export async function createKeyPair(): Promise<KeyPairPem> {
  return exportPair(await generateKeys());
}

export async function createAuthority(commonName: string, validDays = 3650, now = new Date()): Promise<Authority> {
  const keys = await generateKeys();
  const notAfter = new Date(now.getTime() + validDays * DAY_MS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: distinguishedName(commonName),
    keys,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { ...(await exportPair(keys)), keys, cert, certPem: cert.toString('pem') + '\n', notAfter };
}

export async function issueCertificate(ca: Authority, req: LeafRequest): Promise<CertifiedKey> {
  const now = req.now ?? new Date();
  const keys = await generateKeys();
  const notAfter = new Date(now.getTime() + (req.validDays ?? 365) * DAY_MS);
  const usages: string[] = [];
  if (req.usage !== 'client') usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (req.usage !== 'server') usages.push(x509.ExtendedKeyUsage.clientAuth);
  const names: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names, false));
  const cert = await x509.X509CertificateGenerator.create({
    subject: distinguishedName(req.commonName, req.organizations),
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter,
    signingAlgorithm: SIGNING,
    extensions,
  });
  return { ...(await exportPair(keys)), certPem: cert.toString('pem') + '\n', notAfter };
}

function fromPem(pem: string): ArrayBuffer {
  const b64 = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  const buf = Buffer.from(b64, 'base64');
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
}

/** An Authority from a stored CA certificate and its PKCS#8 key (both PEM). */
export async function authorityFromPem(certPem: string, privateKeyPem: string): Promise<Authority> {
  const cert = new x509.X509Certificate(certPem);
  const privateKey = await crypto.subtle.importKey('pkcs8', fromPem(privateKeyPem), EC_KEY, true, ['sign']);
  const publicKey = await cert.publicKey.export(EC_KEY, ['verify'], crypto as unknown as Parameters<typeof cert.publicKey.export>[2]);
  const keys = { privateKey, publicKey } as CryptoKeyPair;
  return { ...(await exportPair(keys)), keys, cert, certPem, notAfter: cert.notAfter };
}
