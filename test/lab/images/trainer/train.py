"""One worker of an Indexed training Job, written as a data scientist would: plain boto3, no Valet
code, nothing but the environment the pod was given.

It reads the shards that are its own (shard number modulo the Job's completions equals its
completion index), writes a checkpoint with the checkpoint access's key, tries what its keys must
refuse, and prints one JSON line per step. It exits 0 only when every read and write worked and
every forbidden call was refused with AccessDenied.

Settings (environment): BUCKET, SHARDS (prefix of the shards), CHECKPOINTS (prefix to write under),
CHECKPOINT_ACCESS (name of the write access), FORBIDDEN_KEY (an object outside the grant),
JOB_COMPLETION_INDEX and COMPLETIONS (from the Job), EPOCHS (reads of each shard; default 1),
PAUSE_SECONDS (sleep between reads; default 0).
"""
import json
import os
import sys
import time

import boto3
from botocore.credentials import ContainerProvider
from botocore.exceptions import ClientError

env = os.environ
BUCKET = env["BUCKET"]
INDEX = int(env.get("JOB_COMPLETION_INDEX", "0"))
COMPLETIONS = int(env.get("COMPLETIONS", "1"))
failures = 0


def report(step, outcome, **detail):
    print(json.dumps({"worker": INDEX, "step": step, "outcome": outcome, **detail}), flush=True)


def expect_refused(step, fn):
    global failures
    try:
        fn()
        failures += 1
        report(step, "ALLOWED")
    except ClientError as err:
        code = err.response["Error"]["Code"]
        if code != "AccessDenied":
            failures += 1
        report(step, "refused", code=code)


# The default chain: boto3 finds AWS_CONTAINER_CREDENTIALS_FULL_URI and the token file by itself.
data = boto3.client("s3")
keys = []
pages = data.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=env["SHARDS"])
for page in pages:
    keys += [o["Key"] for o in page.get("Contents", [])]
mine = [k for i, k in enumerate(sorted(keys)) if i % COMPLETIONS == INDEX]
report("list", "ok", shards=len(keys), mine=len(mine))
total = 0
reads = 0
for epoch in range(int(env.get("EPOCHS", "1"))):
    for key in mine:
        total += len(data.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        reads += 1
        time.sleep(float(env.get("PAUSE_SECONDS", "0")))
report("read", "ok", reads=reads, bytes=total)
if not mine:
    failures += 1

# The checkpoint access has its own key, at its own path of the same endpoint.
uri = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].rstrip("/") + "/" + env["CHECKPOINT_ACCESS"]
creds = ContainerProvider(environ={**env, "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}).load().get_frozen_credentials()
ckpt = boto3.client("s3", aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key, aws_session_token=creds.token)
key = f"{env['CHECKPOINTS']}rank-{INDEX}.pt"
ckpt.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"worker": INDEX, "bytes": total}).encode())
report("checkpoint", "ok", key=key)

expect_refused("read outside the grant", lambda: data.get_object(Bucket=BUCKET, Key=env["FORBIDDEN_KEY"]))
expect_refused("write with the read-only key", lambda: data.put_object(Bucket=BUCKET, Key=env["SHARDS"] + "poison", Body=b"x"))
expect_refused("read with the write-only key", lambda: ckpt.get_object(Bucket=BUCKET, Key=key))
report("done", "ok" if failures == 0 else "FAILED", failures=failures)
sys.exit(1 if failures else 0)
