// Pinned versions of everything the lab builds. Bump here; the cache is keyed by these values, so
// a bump rebuilds on the next run and never mixes old and new binaries.

/** kube-apiserver, built from the Go module proxy (k8s.io/kubernetes at this tag). */
export const KUBERNETES_VERSION = 'v1.37.2';
/** etcd server, built from go.etcd.io/etcd/server/v3 at this tag. */
export const ETCD_VERSION = 'v3.6.16';
/**
 * MinIO in maintenance mode. Its last code change is 58659f26f45f (2025-11-06); the commits after it
 * up to 7aac2a2c5b7c (2026-02-12) touch README.md only, so this is the late-2025 code. The Go module
 * proxy here serves only this pseudo-version (@latest): older commits answer 403.
 */
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';
/** Helm, built from helm.sh/helm/v4/cmd/helm at this tag (for the chart's lint, render and install test). */
export const HELM_VERSION = 'v4.3.1';
/** CoreDNS for the lab node's cluster DNS, built from github.com/coredns/coredns at this tag. */
export const COREDNS_VERSION = 'v1.12.0';
/**
 * s5cmd for the clients image (issue #18), built from github.com/peak/s5cmd/v2 at this tag. The Go
 * module proxy here answers no version list for it (403), so a newer tag must be asked for by name.
 */
export const S5CMD_VERSION = 'v2.3.0';
/** Oldest Go that builds all three. */
export const GO_MIN_VERSION: readonly [number, number] = [1, 25];
