// The issuer's routes (HTTPS, Bearer = the pod's projected token). Part of its wire contract.

export const ISSUER_PATHS = { keys: '/v1/keys', sign: '/v1/sign', list: '/v1/list' } as const;
