// Registry authentication: public surface for src/index.ts and the CLI. Internal helpers stay in their files.
export { authMiddleware } from './middleware.js';
export type { AuthOptions } from './middleware.js';
export { anonymous, chainCredentials, defaultKeychain, describeCredential, staticCredentials } from './credentials.js';
export type { Credential, CredentialSource, KeychainOptions } from './credentials.js';
export { login } from './login.js';
export type { LoginOptions, LoginResult } from './login.js';
export { challengeScopes, parseChallenge, parseChallenges } from './challenge.js';
export type { Challenge } from './challenge.js';
export { mergeScopes } from './scope.js';
export { DOCKER_HUB, DOCKER_HUB_API_HOST, DOCKER_HUB_AUTH_KEY, normalizeRegistry } from './registry-name.js';
