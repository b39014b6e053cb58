// valet-lab-minio-admin sets up the lab's MinIO through its admin API: a canned policy, a user,
// and the policy attached to that user. MinIO's admin API encrypts request bodies with the root
// secret, so a Go client (madmin-go, the library MinIO's own `mc` uses) is the honest way in.
//
// Credentials come from the environment, never from argv (argv is world-readable in /proc):
//   MINIO_ENDPOINT (host:port), MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, and for add-user USER_SECRET.
//
// Usage:
//   valet-lab-minio-admin add-policy NAME FILE
//   valet-lab-minio-admin add-user ACCESS_KEY          (secret from USER_SECRET)
//   valet-lab-minio-admin attach POLICY ACCESS_KEY
//   valet-lab-minio-admin version
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/minio/madmin-go/v3"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "valet-lab-minio-admin: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: add-policy NAME FILE | add-user ACCESS_KEY | attach POLICY ACCESS_KEY | version")
	}
	endpoint := os.Getenv("MINIO_ENDPOINT")
	root, rootSecret := os.Getenv("MINIO_ROOT_USER"), os.Getenv("MINIO_ROOT_PASSWORD")
	if endpoint == "" || root == "" || rootSecret == "" {
		fail("MINIO_ENDPOINT, MINIO_ROOT_USER and MINIO_ROOT_PASSWORD must be set")
	}
	adm, err := madmin.New(endpoint, root, rootSecret, false)
	if err != nil {
		fail("connecting to %s: %v", endpoint, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := os.Args[2:]
	switch os.Args[1] {
	case "add-policy":
		if len(args) != 2 {
			fail("add-policy NAME FILE")
		}
		doc, err := os.ReadFile(args[1])
		if err != nil {
			fail("reading policy: %v", err)
		}
		if err := adm.AddCannedPolicy(ctx, args[0], doc); err != nil {
			fail("add-policy %s: %v", args[0], err)
		}
	case "add-user":
		secret := os.Getenv("USER_SECRET")
		if len(args) != 1 || secret == "" {
			fail("add-user ACCESS_KEY with USER_SECRET set")
		}
		if err := adm.AddUser(ctx, args[0], secret); err != nil {
			fail("add-user %s: %v", args[0], err)
		}
	case "attach":
		if len(args) != 2 {
			fail("attach POLICY ACCESS_KEY")
		}
		_, err := adm.AttachPolicy(ctx, madmin.PolicyAssociationReq{Policies: []string{args[0]}, User: args[1]})
		if err != nil {
			fail("attach %s to %s: %v", args[0], args[1], err)
		}
	case "version":
		info, err := adm.ServerInfo(ctx)
		if err != nil {
			fail("server info: %v", err)
		}
		for _, s := range info.Servers {
			fmt.Println(s.Version)
			return
		}
	default:
		fail("unknown command %q", os.Args[1])
	}
}
