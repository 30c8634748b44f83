import { createHash } from 'node:crypto';

/**
 * OpenSSL's subject-name hash of a certificate (`openssl x509 -subject_hash`, X509_NAME_hash_ex), what
 * `openssl rehash` names its `<hash>.N` links by: SHA-1 of the name's canonical encoding (crypto/x509/x_name.c
 * x509_name_canon), its first four bytes read little-endian. The canonical encoding is each RDN's SET OF
 * AttributeTypeAndValue, DER, one after another without the outer SEQUENCE; a string value of a type in
 * ASN1_MASK_CANON is converted to UTF-8, trimmed, its ASCII whitespace runs collapsed to one space and ASCII
 * upper case lowered (other bytes kept), then tagged UTF8String; any other value is kept as it is.
 */

interface Tlv {
  readonly tag: number;
  /** Offset of the content, and its end. */
  readonly start: number;
  readonly end: number;
  /** Offset of the tag byte. */
  readonly at: number;
}

/** One DER element at `at` (single-byte tags, definite lengths); throws on truncation. */
export function readTlv(der: Buffer, at: number): Tlv {
  if (at + 2 > der.length) throw new Error('DER: truncated');
  const tag = der[at]!;
  let len = der[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) throw new Error('DER: bad length');
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + der[start + k]!;
    start += n;
  }
  if (start + len > der.length) throw new Error('DER: truncated');
  return { tag, start, end: start + len, at };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(der, at);
    out.push(t);
    at = t.end;
  }
  return out;
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

const UTF8 = 0x0c;
const PRINTABLE = 0x13;
const T61 = 0x14;
const IA5 = 0x16;
const VISIBLE = 0x1a;
const UNIVERSAL = 0x1c;
const BMP = 0x1e;

/** The value as UTF-8 for the string types OpenSSL canonicalises; undefined for any other type. */
function toUtf8(tag: number, bytes: Buffer): Buffer | undefined {
  switch (tag) {
    case UTF8:
    case PRINTABLE:
    case IA5:
    case VISIBLE:
      return bytes;
    case T61:
      // OpenSSL reads T61String one byte per character (Latin-1).
      return Buffer.from(bytes.toString('latin1'), 'utf8');
    case BMP: {
      let s = '';
      for (let k = 0; k + 1 < bytes.length; k += 2) s += String.fromCharCode(bytes.readUInt16BE(k));
      return Buffer.from(s, 'utf8');
    }
    case UNIVERSAL: {
      let s = '';
      for (let k = 0; k + 3 < bytes.length; k += 4) s += String.fromCodePoint(bytes.readUInt32BE(k));
      return Buffer.from(s, 'utf8');
    }
    default:
      return undefined;
  }
}

const isSpace = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);

/** asn1_string_canon on UTF-8 bytes. */
export function canonString(utf8: Buffer): Buffer {
  let from = 0;
  let to = utf8.length;
  while (from < to && isSpace(utf8[from]!)) from++;
  while (to > from && isSpace(utf8[to - 1]!)) to--;
  const out: number[] = [];
  for (let i = from; i < to; ) {
    const c = utf8[i]!;
    if (c >= 0x80) {
      out.push(c);
      i++;
    } else if (isSpace(c)) {
      out.push(0x20);
      while (i < to && isSpace(utf8[i]!)) i++;
    } else {
      out.push(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
      i++;
    }
  }
  return Buffer.from(out);
}

/** DER order of SET OF elements as OpenSSL sorts them (der_cmp: bytes of the shorter length, then length). */
function derCmp(a: Buffer, b: Buffer): number {
  const c = Buffer.compare(a.subarray(0, Math.min(a.length, b.length)), b.subarray(0, Math.min(a.length, b.length)));
  return c !== 0 ? c : a.length - b.length;
}

/** The canonical encoding of a DER Name (SEQUENCE OF SET OF SEQUENCE { OID, value }). */
export function canonicalName(name: Buffer): Buffer {
  const seq = readTlv(name, 0);
  if (seq.tag !== 0x30) throw new Error('DER: a Name is a SEQUENCE');
  const sets: Buffer[] = [];
  for (const rdn of children(name, seq)) {
    if (rdn.tag !== 0x31) throw new Error('DER: an RDN is a SET');
    const entries: Buffer[] = [];
    for (const ava of children(name, rdn)) {
      const [oid, value] = children(name, ava);
      if (!oid || !value || oid.tag !== 0x06) throw new Error('DER: bad AttributeTypeAndValue');
      const bytes = name.subarray(value.start, value.end);
      const utf8 = toUtf8(value.tag, bytes);
      const v = utf8 === undefined ? name.subarray(value.at, value.end) : der(UTF8, canonString(utf8));
      entries.push(der(0x30, Buffer.concat([name.subarray(oid.at, oid.end), v])));
    }
    entries.sort(derCmp);
    sets.push(der(0x31, Buffer.concat(entries)));
  }
  return Buffer.concat(sets);
}

/** The subject Name of a DER certificate (its DER bytes). */
export function certificateSubject(cert: Buffer): Buffer {
  const top = readTlv(cert, 0);
  const tbs = children(cert, top)[0];
  if (top.tag !== 0x30 || !tbs || tbs.tag !== 0x30) throw new Error('DER: not a certificate');
  const fields = children(cert, tbs);
  // [0] version is optional; then serial, signature, issuer, validity, subject.
  const k = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[k + 4];
  if (!subject || subject.tag !== 0x30) throw new Error('DER: certificate without a subject');
  return cert.subarray(subject.at, subject.end);
}

/** X509_NAME_hash_ex of a certificate's subject, as 8 lower-case hex digits. */
export function subjectHash(cert: Buffer): string {
  const md = createHash('sha1').update(canonicalName(certificateSubject(cert))).digest();
  return md.readUInt32LE(0).toString(16).padStart(8, '0');
}

/** The DER certificates of PEM text (`-----BEGIN CERTIFICATE-----` blocks; other blocks counted apart). */
export function pemBlocks(text: string): { certificates: Buffer[]; others: number } {
  const certificates: Buffer[] = [];
  let others = 0;
  const re = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[1] === 'CERTIFICATE' || m[1] === 'X509 CERTIFICATE') certificates.push(Buffer.from(m[2]!.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64'));
    else if (m[1] === 'X509 CRL' || m[1] === 'TRUSTED CERTIFICATE') others++;
  }
  return { certificates, others };
}
