// The credential value on its own: the keychain (credentials.ts), docker's config (docker-config.ts) and the
// credential helpers (cred-helper.ts) all speak it, and none of them needs the others to name it.

/**
 * What a registry login yields. At most one form is used: `registryToken` is sent as Bearer directly;
 * `identityToken` is an OAuth2 refresh token (docker config `identitytoken`, helper user `<token>`);
 * otherwise `username` + `password` go to the token server (Basic or OAuth2 password grant) or to a
 * Basic-auth registry.
 */
export interface Credential {
  username?: string;
  password?: string;
  identityToken?: string;
  registryToken?: string;
}
