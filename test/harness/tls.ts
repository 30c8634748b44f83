// A throwaway CA and a server certificate for 127.0.0.1 / localhost, made with the openssl CLI (OpenSSL 3).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './exec.js';

export interface TlsFiles {
  /** CA certificate (PEM), alone in its directory. */
  caFile: string;
  /** Directory holding only ca.crt: pass as skopeo `--cert-dir` / `--src-cert-dir` / `--dest-cert-dir`. */
  certDir: string;
  /** Server certificate (PEM) with SANs IP:127.0.0.1 and DNS:localhost, signed by the CA. */
  certFile: string;
  /** Server private key (PEM, ECDSA P-256). */
  keyFile: string;
  /** The CA certificate's PEM text (for node's `ca` option). */
  caPem: string;
}

/** Generate the CA and server certificate under `dir` (which must exist). */
export async function makeTls(dir: string): Promise<TlsFiles> {
  const certDir = join(dir, 'ca');
  const serverDir = join(dir, 'server');
  // Separate directories: skopeo's cert dir treats every *.key as a client key and then demands a matching *.cert.
  await mkdir(certDir, { recursive: true });
  await mkdir(serverDir, { recursive: true });
  const caFile = join(certDir, 'ca.crt');
  const caKey = join(serverDir, 'ca.key');
  const certFile = join(serverDir, 'server.crt');
  const keyFile = join(serverDir, 'server.key');
  const csrFile = join(serverDir, 'server.csr');
  const extFile = join(serverDir, 'server.ext');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

  await runOk('openssl', [
    'req', '-x509', ...ec, '-keyout', caKey, '-out', caFile, '-days', '7', '-subj', '/CN=stowage test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await runOk('openssl', ['req', '-new', ...ec, '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=localhost']);
  await writeFile(
    extFile,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await runOk('openssl', [
    'x509', '-req', '-in', csrFile, '-CA', caFile, '-CAkey', caKey,
    // Serial file next to the key, not next to ca.crt (openssl's default), so certDir holds nothing but ca.crt.
    '-CAserial', join(serverDir, 'ca.srl'), '-CAcreateserial',
    '-days', '7', '-sha256', '-extfile', extFile, '-out', certFile,
  ]);
  return { caFile, certDir, certFile, keyFile, caPem: await readFile(caFile, 'utf8') };
}
