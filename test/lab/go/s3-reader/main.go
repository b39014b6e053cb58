// valet-lab-s3-reader is the lab's AWS SDK for Go v2 client: a program as a Go team would write it,
// with nothing but config.LoadDefaultConfig. It finds its credentials (the container provider:
// AWS_CONTAINER_CREDENTIALS_FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or
// AWS_CONTAINER_AUTHORIZATION_TOKEN), its region and its endpoint (AWS_ENDPOINT_URL_S3) in the
// environment. No key is ever in its code or on its command line.
//
// Usage:
//
//	valet-lab-s3-reader get BUCKET KEY     reads the object; prints {"op":"get",...,"bytes":N,"sha256":"..."}
//	valet-lab-s3-reader list BUCKET PREFIX lists the prefix;  prints {"op":"list",...,"keys":[...]}
//
// Each prints one JSON line and exits 0 on success; on an error it prints
// {"op":...,"error":"...","code":"AccessDenied","status":403} and exits 1 (2 for a usage error).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func fail(op string, err error) {
	out := map[string]any{"op": op, "error": err.Error()}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		out["code"] = apiErr.ErrorCode()
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		out["status"] = respErr.HTTPStatusCode()
	}
	emit(out)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "get" && os.Args[1] != "list") {
		fmt.Fprintln(os.Stderr, "usage: valet-lab-s3-reader get BUCKET KEY | list BUCKET PREFIX")
		os.Exit(2)
	}
	op, bucket, arg := os.Args[1], os.Args[2], os.Args[3]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The default chain only: env, shared config, then the container credentials endpoint.
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fail(op, err)
	}
	// The one line an S3-compatible store needs: path-style addressing (the endpoint itself comes
	// from AWS_ENDPOINT_URL_S3, which LoadDefaultConfig reads). The SDK already uses path style for
	// an IP endpoint; for a host name (minio.ns.svc:9000) it would put the bucket in the host name.
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })

	switch op {
	case "get":
		res, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(arg)})
		if err != nil {
			fail(op, err)
		}
		defer res.Body.Close()
		h := sha256.New()
		n, err := io.Copy(h, res.Body)
		if err != nil {
			fail(op, err)
		}
		emit(map[string]any{"op": op, "bucket": bucket, "key": arg, "bytes": n, "sha256": hex.EncodeToString(h.Sum(nil))})
	case "list":
		keys := []string{}
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(arg)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				fail(op, err)
			}
			for _, o := range page.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
		emit(map[string]any{"op": op, "bucket": bucket, "prefix": arg, "keys": keys})
	}
}
