"""One worker of an Indexed training Job, written as a data scientist would: plain boto3, no Valet
code, no keys passed in code, nothing but the environment the pod was given.

It lists the shards and reads those that are its own (the i-th shard in key order is worker
i mod COMPLETIONS's), writes a checkpoint with the checkpoint access's key, tries what its keys must
refuse, and prints one JSON line per step. It exits 0 only when every list, read and write worked
and every forbidden call was refused with AccessDenied; 1 otherwise; 2 when a setting is missing.

Each setting is a flag or, as a Job passes them, an environment variable:
  --bucket BUCKET                       the bucket of the dataset and the checkpoints
  --shards SHARDS                       the prefix of the shards (read with the pod's default key)
  --checkpoints CHECKPOINTS             the prefix to write the checkpoint under
  --checkpoint-access CHECKPOINT_ACCESS the name of the write access (its own key, its own path)
  --forbidden-key FORBIDDEN_KEY         an object outside the grant, which must be refused
  --index JOB_COMPLETION_INDEX          this worker's completion index (set by the Job; default 0)
  --completions COMPLETIONS             the Job's completions (default 1)
  --epochs EPOCHS                       reads of each shard (default 1)
  --pause-seconds PAUSE_SECONDS         sleep between reads (default 0)
"""
import argparse
import json
import os
import sys
import time

import boto3
from botocore.credentials import ContainerProvider
from botocore.exceptions import BotoCoreError, ClientError

env = os.environ


def setting(parser, flag, var, default=None, kind=str):
    value = env.get(var, default)
    parser.add_argument(flag, dest=var, type=kind, default=None if value is None else kind(value), required=value is None, help=f"(env {var})")


parser = argparse.ArgumentParser(description="One worker of an Indexed training Job (plain boto3).")
setting(parser, "--bucket", "BUCKET")
setting(parser, "--shards", "SHARDS")
setting(parser, "--checkpoints", "CHECKPOINTS")
setting(parser, "--checkpoint-access", "CHECKPOINT_ACCESS")
setting(parser, "--forbidden-key", "FORBIDDEN_KEY")
setting(parser, "--index", "JOB_COMPLETION_INDEX", "0", int)
setting(parser, "--completions", "COMPLETIONS", "1", int)
setting(parser, "--epochs", "EPOCHS", "1", int)
setting(parser, "--pause-seconds", "PAUSE_SECONDS", "0", float)
args = vars(parser.parse_args())
BUCKET = args["BUCKET"]
INDEX = args["JOB_COMPLETION_INDEX"]
COMPLETIONS = args["COMPLETIONS"]
failures = 0


def report(step, outcome, **detail):
    print(json.dumps({"worker": INDEX, "step": step, "outcome": outcome, **detail}), flush=True)


def attempt(step, fn):
    """Runs a step that must work; a failure is reported (not raised) and counted."""
    global failures
    try:
        return fn()
    except ClientError as err:
        failures += 1
        report(step, "FAILED", code=err.response["Error"]["Code"], error=str(err))
    except (BotoCoreError, OSError, KeyError, ValueError) as err:
        failures += 1
        report(step, "FAILED", error=f"{type(err).__name__}: {err}")
    return None


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
    except (BotoCoreError, OSError) as err:
        failures += 1
        report(step, "FAILED", error=f"{type(err).__name__}: {err}")


def list_shards(s3):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=args["SHARDS"]):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def read_shards(s3, mine):
    total = reads = 0
    for _ in range(args["EPOCHS"]):
        for key in mine:
            total += len(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
            reads += 1
            time.sleep(args["PAUSE_SECONDS"])
    return total, reads


def checkpoint_client():
    # The checkpoint access has its own key, at its own path of the same endpoint.
    uri = env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].rstrip("/") + "/" + args["CHECKPOINT_ACCESS"]
    creds = ContainerProvider(environ={**env, "AWS_CONTAINER_CREDENTIALS_FULL_URI": uri}).load().get_frozen_credentials()
    return boto3.client("s3", aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key, aws_session_token=creds.token)


def main():
    global failures
    # The default chain: boto3 finds AWS_CONTAINER_CREDENTIALS_FULL_URI and the token file by itself.
    data = attempt("credentials", lambda: boto3.client("s3"))
    total = 0
    if data is not None:
        keys = attempt("list", lambda: list_shards(data))
        if keys is not None:
            mine = [k for i, k in enumerate(keys) if i % COMPLETIONS == INDEX]
            report("list", "ok", shards=len(keys), mine=len(mine))
            if not mine:
                failures += 1
            done = attempt("read", lambda: read_shards(data, mine))
            if done is not None:
                total, reads = done
                report("read", "ok", reads=reads, bytes=total)

    ckpt = attempt("checkpoint", checkpoint_client)
    key = f"{args['CHECKPOINTS']}rank-{INDEX}.pt"
    if ckpt is not None and attempt("checkpoint", lambda: ckpt.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"worker": INDEX, "bytes": total}).encode())):
        report("checkpoint", "ok", key=key)

    if data is not None:
        expect_refused("read outside the grant", lambda: data.get_object(Bucket=BUCKET, Key=args["FORBIDDEN_KEY"]))
        expect_refused("write with the read-only key", lambda: data.put_object(Bucket=BUCKET, Key=args["SHARDS"] + "poison", Body=b"x"))
    if ckpt is not None:
        expect_refused("read with the write-only key", lambda: ckpt.get_object(Bucket=BUCKET, Key=key))
    report("done", "ok" if failures == 0 else "FAILED", failures=failures)
    return 1 if failures else 0


sys.exit(main())
