"""A small training job, as a data scientist would write it: plain boto3, no Valet code.

It reads dataset shards with the pod's default credentials (the container-credentials endpoint the
webhook injected), writes a checkpoint with the credentials of the checkpoint access, and shows
what the keys refuse. It prints one JSON line per step for the demo's summary.
"""
import json
import os
import sys

import boto3
from botocore.credentials import ContainerProvider
from botocore.exceptions import ClientError

BUCKET = sys.argv[1]
CHECKPOINT_ACCESS = sys.argv[2]


def report(step, outcome, detail=""):
    print(json.dumps({"step": step, "outcome": outcome, "detail": detail}), flush=True)


def try_call(step, fn):
    try:
        detail = fn()
        report(step, "ok", detail or "")
    except ClientError as err:
        report(step, "refused", err.response["Error"]["Code"])


# The default chain: boto3 finds AWS_CONTAINER_CREDENTIALS_FULL_URI and the token file by itself.
data = boto3.client("s3")
shards = [o["Key"] for o in data.list_objects_v2(Bucket=BUCKET, Prefix="imagenet/").get("Contents", [])]
report("list imagenet/", "ok", f"{len(shards)} shards")
total = 0
for key in shards:
    total += len(data.get_object(Bucket=BUCKET, Key=key)["Body"].read())
report("read shards", "ok", f"{total} bytes from {len(shards)} shards")

# The checkpoint access has its own key, on its own path of the same endpoint.
uri = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"].rstrip("/") + "/" + CHECKPOINT_ACCESS
provider = ContainerProvider(environ={**os.environ, "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri})
ckpt_creds = provider.load()
ckpt = boto3.client(
    "s3",
    aws_access_key_id=ckpt_creds.access_key,
    aws_secret_access_key=ckpt_creds.secret_key,
    aws_session_token=ckpt_creds.token,
)
try_call("write checkpoints/step-100.pt", lambda: ckpt.put_object(Bucket=BUCKET, Key="checkpoints/step-100.pt", Body=b"weights " * 1000) and "8000 bytes")

# What the keys refuse: everything outside the grant.
try_call("read imagenet-private/a.bin (sibling prefix)", lambda: data.get_object(Bucket=BUCKET, Key="imagenet-private/a.bin"))
try_call("read coco/a.bin (another dataset)", lambda: data.get_object(Bucket=BUCKET, Key="coco/a.bin"))
try_call("write imagenet/poison.bin (read-only grant)", lambda: data.put_object(Bucket=BUCKET, Key="imagenet/poison.bin", Body=b"x"))
try_call("list the bucket root", lambda: data.list_objects_v2(Bucket=BUCKET))
try_call("read checkpoints/step-100.pt (write-only grant)", lambda: ckpt.get_object(Bucket=BUCKET, Key="checkpoints/step-100.pt"))
