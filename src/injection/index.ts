// Pure, idempotent pod mutation → JSON patch (STYLE.md habit 9). Imports api, platform, config, policy.
export * from './constants.ts';
export { mutatePod } from './mutate.ts';
export type { InjectionContext, Mutation, MutationResult } from './mutate.ts';
export { matchGrants } from './grants.ts';
export type { AccessLookup, GrantMatch, PodGrant } from './grants.ts';
export { applyPatch, escapePointer } from './json-patch.ts';
export type { JsonPatchOp } from './json-patch.ts';
export { podDisplayName, podShapeProblem } from './pod.ts';
export type { Container, EnvVar, Pod, Volume, VolumeMount } from './pod.ts';
