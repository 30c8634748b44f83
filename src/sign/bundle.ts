import { bundleToJSON, type Bundle } from '@sigstore/bundle';
import { DSSEBundleBuilder, type BundleBuilder, type Signature, type Signer } from '@sigstore/sign';

import { StowageError, messageOf } from '../errors.js';
import { signBytes, type SigningKey } from './keys.js';
import { IN_TOTO_PAYLOAD_TYPE, serializeStatement, type Statement } from './statement.js';

/**
 * Sigstore bundles (protobuf-specs `sigstore_bundle.proto`) around a DSSE-wrapped in-toto statement, made with
 * @sigstore/sign's `DSSEBundleBuilder` (sigstore-js `packages/sign/src/bundler/dsse.ts`): the builder signs
 * PAE(payloadType, payload) with a `Signer`, then asks each `Witness` (Rekor, TSA) for verification material.
 * With a key signer and `witnesses: []` nothing leaves the machine: the bundle carries
 * `verificationMaterial.publicKey.hint` and empty `tlogEntries` (`bundler/base.ts`, `@sigstore/bundle` build.ts),
 * media type `application/vnd.dev.sigstore.bundle.v0.3+json` (the DSSE builder picks v0.3 unless
 * `certificateChain: true`).
 */

export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** A bundle as it is stored: its exact JSON bytes, media type, and the predicate type of the statement inside. */
export interface SignedBundle {
  bytes: Buffer;
  mediaType: string;
  predicateType: string;
  bundle: Bundle;
}

/** A @sigstore/sign `Signer` over a key loaded from `--key`: one method, the scheme chosen by the key. */
export class KeySigner implements Signer {
  readonly #key: SigningKey;

  constructor(key: SigningKey) {
    this.#key = key;
  }

  async sign(data: Buffer): Promise<Signature> {
    return {
      signature: signBytes(this.#key, data),
      key: { $case: 'publicKey', publicKey: this.#key.publicKeyPem, hint: this.#key.hint },
    };
  }
}

/** The offline builder: key signer, no witnesses (no Fulcio, no Rekor, no TSA). */
export function keyBundleBuilder(key: SigningKey): DSSEBundleBuilder {
  return new DSSEBundleBuilder({ signer: new KeySigner(key), witnesses: [] });
}

/** Sign a statement with any builder (offline or keyless) and serialize the bundle with `bundleToJSON`. */
export async function signStatement(value: Statement, builder: BundleBuilder): Promise<SignedBundle> {
  const payload = serializeStatement(value);
  let bundle: Bundle;
  try {
    bundle = await builder.create({ data: payload, type: IN_TOTO_PAYLOAD_TYPE });
  } catch (e) {
    throw signingError(e);
  }
  return {
    bytes: Buffer.from(JSON.stringify(bundleToJSON(bundle)), 'utf8'),
    mediaType: bundle.mediaType,
    predicateType: value.predicateType,
    bundle,
  };
}

/** Shortcut: sign a statement with a local key, offline. */
export async function signStatementWithKey(value: Statement, key: SigningKey): Promise<SignedBundle> {
  return signStatement(value, keyBundleBuilder(key));
}

/**
 * Wrap a @sigstore/sign failure. Its `InternalError`s carry a string `code`; one of them
 * (IDENTITY_TOKEN_PARSE_ERROR, signer/fulcio/index.ts) puts the whole OIDC token in its message, so that one is
 * replaced and its cause dropped.
 */
function signingError(e: unknown): StowageError {
  if (e instanceof StowageError) return e;
  const code = (e as { code?: unknown }).code;
  if (code === 'IDENTITY_TOKEN_PARSE_ERROR') {
    return new StowageError('SIGNATURE', 'keyless signing failed: the OIDC identity token is not a valid JWT');
  }
  if (code === 'IDENTITY_TOKEN_READ_ERROR') {
    const cause = (e as { cause?: unknown }).cause;
    if (cause instanceof StowageError) return cause;
    return new StowageError('SIGNATURE', 'keyless signing failed: could not get an OIDC identity token', { cause });
  }
  const where =
    code === 'CA_CREATE_SIGNING_CERTIFICATE_ERROR'
      ? ' (Fulcio refused or could not be reached)'
      : typeof code === 'string' && code.startsWith('TLOG_')
        ? ' (Rekor refused or could not be reached)'
        : typeof code === 'string' && code.startsWith('TSA_')
          ? ' (the timestamp authority refused or could not be reached)'
          : '';
  const detail = causeMessage(e);
  return new StowageError('SIGNATURE', `signing failed${where}: ${detail}`, { cause: e });
}

function causeMessage(e: unknown): string {
  const own = messageOf(e);
  const cause = (e as { cause?: unknown }).cause;
  if (cause === undefined) return own;
  const inner = messageOf(cause);
  return own.includes(inner) ? own : `${own}: ${inner}`;
}
