// Pure decisions: prefix and key checks, label selectors, session policy rendering, DatasetAccess
// validation, subject matching, condition bookkeeping. Imports only src/api.
export type { Check } from './result.ts';
export { checkPrefix, isInsidePrefix, findAllowedPrefix } from './prefix.ts';
export { validateObjectKey } from './key.ts';
export type { KeyReason } from './key.ts';
export { matchLabelSelector } from './selector.ts';
export { ACTIONS, renderSessionPolicy, s3Partition } from './session-policy.ts';
export type { PolicyAccessInput, PolicyStatement, PolicyStoreInput, RenderResult, SessionPolicy } from './session-policy.ts';
export { renderGrant } from './grant.ts';
export type { GrantAccessInput, GrantRenderResult, GrantStoreInput } from './grant.ts';
export { secretUse, UnusableKeyError } from './provider.ts';
export type { GrantInput, ListedStoreObject, UrlSigning, ProviderRegistry, Rendered, SecretUse, SigningKey, StaticCredentials, StorageProvider, StoreSpecInput } from './provider.ts';
export { validateAccess } from './validate.ts';
export type { AccessValidation, ConditionResult, ValidateOptions } from './validate.ts';
export { checkCredentialsPlacement } from './credentials.ts';
export { ClaimIndex } from './claim-index.ts';
export { claimsOnClusterStore, expandAllowedPrefixes, folderOwnedElsewhere, NAMESPACE_PLACEHOLDER, overlappingClaimsIn } from './folders.ts';
export type { FolderClaim } from './folders.ts';
export type { CredentialsPlacement } from './credentials.ts';
export { subjectsMatch } from './subjects.ts';
export type { PodIdentity, SubjectsReason } from './subjects.ts';
export { conditionsEqual, mergeConditions } from './conditions.ts';
export type { ConditionInput } from './conditions.ts';
export { generatePodToken, isPodToken, loaderCapability, secretMatches } from './pod-token.ts';
