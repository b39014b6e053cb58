"""One row of the lab's client matrix: a real S3 client, used as its own documentation says, with
nothing but the environment a Valet-injected pod is given. No key is in this code or on its command
line: each client finds the container-credentials endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI with
AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or AWS_CONTAINER_AUTHORIZATION_TOKEN) by itself.

    python3 /app/clients.py CLIENT --bucket B [--allowed-key K] [--forbidden-key F]
                            [--allowed-prefix P] [--forbidden-prefix Q]
                            [--parquet-key PQ] [--expect-rows N]
                            [--expect-size N] [--expect-sha256 HEX]
                            [--urls URLS] [--forbidden-urls URLS] [--expect-samples N]
                            [--hold SECONDS] [--hold-interval SECONDS]

CLIENT is one of: boto3, awscli, pyarrow, s3fs, pandas, polars, s3torchconnector, s5cmd, go-sdk-v2,
webdataset. A row may try its client more than one way (a "variant", e.g. pandas through pyarrow's
own S3 and through s3fs); every variant must pass.

  --allowed-key      an object the grant covers: read whole, and compared with --expect-size and
                     --expect-sha256 when given (not read by pandas and polars, which read parquet only)
  --parquet-key      a parquet file the grant covers, read by pyarrow, pandas and polars (required
                     for those rows); the test uploads it: this script writes nothing
  --expect-rows      the parquet file's row count
  --allowed-prefix   a prefix the grant lets list: the listing must not be empty, and must hold
                     --allowed-key when the key is under it (not pandas, polars, webdataset)
  --forbidden-key    an object outside the grant: reading it must be refused with the client's own
                     AccessDenied/403 error, and nothing else (a DNS or credentials error fails)
  --forbidden-prefix a prefix outside the grant: listing it must be refused
  --urls             webdataset only: shard URLs (brace patterns allowed, several separated by
                     spaces); a URL that starts with / is under VALET_LOADER_URL, e.g.
                     /<access>/shards/train-{000000..000003}.tar (the loader 302s to a presigned URL)
  --forbidden-urls   webdataset only: shard URLs that must be refused
  --expect-samples   webdataset only: the number of samples in --urls
  --hold SECONDS     after the checks, read --allowed-key again every --hold-interval seconds
                     (default 10) with the same client object for SECONDS: shows whether the
                     client fetches new credentials from the endpoint before the old ones expire

Prints one JSON line per step: {"client", "variant", "step", "outcome", ...}; outcome is "ok",
"refused" (as required), or a failure: "FAILED" (an error), "ALLOWED" (a forbidden read worked),
"WRONG" (a read returned other bytes). The last line is {"step": "done", "failures": N}. Exits 0 only
when every step held; 1 otherwise; 2 for a usage error.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

CLIENTS = ["boto3", "awscli", "pyarrow", "s3fs", "pandas", "polars", "s3torchconnector", "s5cmd", "go-sdk-v2", "webdataset"]
PARQUET_ROWS = {"pyarrow", "pandas", "polars"}


def parse_args():
    p = argparse.ArgumentParser(description="Runs one client row of the lab's client matrix.")
    p.add_argument("client", choices=CLIENTS)
    p.add_argument("--bucket")
    p.add_argument("--allowed-key")
    p.add_argument("--forbidden-key")
    p.add_argument("--allowed-prefix")
    p.add_argument("--forbidden-prefix")
    p.add_argument("--parquet-key")
    p.add_argument("--expect-rows", type=int)
    p.add_argument("--expect-size", type=int)
    p.add_argument("--expect-sha256")
    p.add_argument("--urls")
    p.add_argument("--forbidden-urls")
    p.add_argument("--expect-samples", type=int)
    p.add_argument("--hold", type=float, default=0)
    p.add_argument("--hold-interval", type=float, default=10)
    a = p.parse_args()
    if a.client == "webdataset":
        if not a.urls:
            p.error("webdataset needs --urls")
    else:
        if not a.bucket:
            p.error(f"{a.client} needs --bucket")
        if a.client in PARQUET_ROWS and not a.parquet_key:
            p.error(f"{a.client} reads parquet: it needs --parquet-key")
        if a.client not in PARQUET_ROWS - {"pyarrow"} and not a.allowed_key:
            p.error(f"{a.client} needs --allowed-key")
    return a


args = parse_args()
env = os.environ
failures = 0
variant_name = ""


def report(step, outcome, **detail):
    print(json.dumps({"client": args.client, "variant": variant_name, "step": step, "outcome": outcome, **detail}), flush=True)


def describe(err):
    return f"{type(err).__name__}: {err}"


def attempt(step, fn):
    """A step that must work: its result, or None with the failure reported and counted."""
    global failures
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - every client raises its own kinds
        failures += 1
        report(step, "FAILED", error=describe(err)[:2000])
        return None


def expect_refused(step, fn, refusal):
    """A step that must be refused with an error whose text matches `refusal` (the client's own way
    of saying AccessDenied/403); any other error (DNS, credentials, a parse error) is a failure."""
    global failures
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        text = describe(err)
        if re.search(refusal, text, re.DOTALL):
            report(step, "refused", error=text[:2000])
        else:
            failures += 1
            report(step, "FAILED", error=text[:2000], expected=refusal)
        return
    failures += 1
    report(step, "ALLOWED")


def check_bytes(step, data):
    global failures
    digest = hashlib.sha256(data).hexdigest()
    wrong = (args.expect_size is not None and len(data) != args.expect_size) or (args.expect_sha256 is not None and digest != args.expect_sha256.lower())
    if wrong or len(data) == 0:
        failures += 1
    report(step, "WRONG" if wrong or len(data) == 0 else "ok", bytes=len(data), sha256=digest)


def check_count(step, what, n, expected):
    global failures
    wrong = n == 0 or (expected is not None and n != expected)
    if wrong:
        failures += 1
    report(step, "WRONG" if wrong else "ok", **{what: n})


def check_listing(step, keys):
    global failures
    prefix = args.allowed_prefix
    missing = args.allowed_key is not None and args.allowed_key.startswith(prefix) and args.allowed_key not in keys
    if not keys or missing:
        failures += 1
    report(step, "WRONG" if not keys or missing else "ok", keys=len(keys), sample=sorted(keys)[:5])


def endpoint():
    """The store's endpoint as Valet injects it, for the clients that do not read it themselves."""
    return env["AWS_ENDPOINT_URL_S3"]


class CommandFailed(Exception):
    pass


def command(argv, binary=False):
    res = subprocess.run(argv, capture_output=True, timeout=300, check=False)
    if res.returncode != 0:
        raise CommandFailed(f"{os.path.basename(argv[0])} exited {res.returncode}: {(res.stderr + res.stdout).decode(errors='replace').strip()}")
    return res.stdout if binary else res.stdout.decode()


def tool(name):
    """A command from this venv's bin (aws) or from PATH (s5cmd, valet-lab-s3-reader)."""
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else (shutil.which(name) or name)


# ---------------------------------------------------------------------------------------------
# The clients. Each variant is (name, setup); setup() makes the client as a user would and returns
# a dict of what it can do: read(key) -> bytes, parquet(key) -> rows, list(prefix) -> keys, and the
# regular expression of its refusal (found by running it against MinIO with a scoped STS key).


def boto3_variants():
    def setup():
        import boto3

        # The default chain: AWS_CONTAINER_CREDENTIALS_FULL_URI (+ TOKEN_FILE or TOKEN), and
        # AWS_ENDPOINT_URL_S3, are read by botocore itself. Nothing to write.
        s3 = boto3.client("s3")

        def listing(prefix):
            keys = []
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args.bucket, Prefix=prefix):
                keys += [o["Key"] for o in page.get("Contents", [])]
            return keys

        return {
            "read": lambda key: s3.get_object(Bucket=args.bucket, Key=key)["Body"].read(),
            "list": listing,
            # a botocore ClientError (its modeled subclass is named AccessDenied), code AccessDenied
            "refusal": r"^(ClientError|AccessDenied): An error occurred \(AccessDenied\) when calling the (GetObject|ListObjectsV2) operation",
        }

    return [("boto3.client", setup)]


def awscli_variants():
    def setup():
        aws = tool("aws")
        # awscli v1 (its own vendored botocore) reads the same variables: nothing to write.
        return {
            "read": lambda key: command([aws, "s3", "cp", f"s3://{args.bucket}/{key}", "-"], binary=True),
            "list": lambda prefix: [line.split()[-1] for line in command([aws, "s3", "ls", "--recursive", f"s3://{args.bucket}/{prefix}"]).splitlines() if line.strip()],
            # `aws s3 cp` does a HeadObject first: a 403 without a body, so no AccessDenied code;
            # `aws s3 ls` gets ListObjectsV2's AccessDenied.
            "refusal": r"An error occurred \((403|AccessDenied)\) when calling the (HeadObject|GetObject|ListObjectsV2) operation: (Forbidden|Access Denied)",
        }

    return [("aws s3", setup)]


def pyarrow_variants():
    def uri():
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        # An s3:// URI: pyarrow's S3Options::FromUri reads AWS_ENDPOINT_URL_S3 by itself (the
        # S3FileSystem() constructor does not, see the next variant). Nothing to write.
        def read(key):
            fs, path = pafs.FileSystem.from_uri(f"s3://{args.bucket}/{key}")
            with fs.open_input_file(path) as f:
                return f.read()

        def listing(prefix):
            fs, path = pafs.FileSystem.from_uri(f"s3://{args.bucket}/{prefix}")
            return [i.path.split("/", 1)[1] for i in fs.get_file_info(pafs.FileSelector(path, recursive=True)) if i.type == pafs.FileType.File]

        return {
            "read": read,
            "parquet": lambda key: pq.read_table(f"s3://{args.bucket}/{key}").num_rows,
            "list": listing,
            "refusal": r"^OSError: .*AWS Error ACCESS_DENIED during (HeadObject|GetObject|ListObjectsV2) operation",
        }

    def constructor():
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        # The one line: S3FileSystem() ignores AWS_ENDPOINT_URL_S3 (it would go to AWS), so
        #   pafs.S3FileSystem(endpoint_override=os.environ["AWS_ENDPOINT_URL_S3"])
        # (a full URL: its http:// sets the scheme). Path-style is its default.
        fs = pafs.S3FileSystem(endpoint_override=endpoint())

        def read(key):
            with fs.open_input_file(f"{args.bucket}/{key}") as f:
                return f.read()

        return {
            "read": read,
            "parquet": lambda key: pq.read_table(f"{args.bucket}/{key}", filesystem=fs).num_rows,
            "list": lambda prefix: [i.path.split("/", 1)[1] for i in fs.get_file_info(pafs.FileSelector(f"{args.bucket}/{prefix}", recursive=True)) if i.type == pafs.FileType.File],
            "refusal": r"^OSError: .*AWS Error ACCESS_DENIED during (HeadObject|GetObject|ListObjectsV2) operation",
        }

    return [("s3:// uri", uri), ("S3FileSystem(endpoint_override)", constructor)]


def s3fs_variants():
    def setup():
        import s3fs

        # aiobotocore's chain (botocore's): credentials and AWS_ENDPOINT_URL_S3 from the
        # environment. Nothing to write.
        fs = s3fs.S3FileSystem()
        return {
            "read": lambda key: fs.cat_file(f"{args.bucket}/{key}"),
            "list": lambda prefix: [p.split("/", 1)[1] for p in fs.find(f"{args.bucket}/{prefix}")],
            # s3fs turns AccessDenied/403 into PermissionError (its message is S3's: "Forbidden"
            # from a HeadObject, "Access Denied." from a GET or a listing)
            "refusal": r"^PermissionError: (Forbidden|Access Denied)",
        }

    return [("s3fs.S3FileSystem", setup)]


def pandas_variants():
    def via_pyarrow():
        import pandas as pd

        # read_parquet("s3://…") with no storage_options uses pyarrow's own S3 (FileSystem.from_uri),
        # which reads AWS_ENDPOINT_URL_S3. Nothing to write.
        return {
            "parquet": lambda key: len(pd.read_parquet(f"s3://{args.bucket}/{key}")),
            "refusal": r"^OSError: .*AWS Error ACCESS_DENIED during (HeadObject|GetObject) operation",
        }

    def via_s3fs():
        import pandas as pd

        # Any storage_options sends pandas through fsspec/s3fs (which reads AWS_ENDPOINT_URL_S3).
        return {
            "parquet": lambda key: len(pd.read_parquet(f"s3://{args.bucket}/{key}", storage_options={"anon": False})),
            "refusal": r"^PermissionError: (Forbidden|Access Denied)",
        }

    return [("read_parquet (pyarrow)", via_pyarrow), ("read_parquet (s3fs)", via_s3fs)]


def polars_variants():
    # Polars' own reader (object_store) reads AWS_ENDPOINT_URL_S3 itself and is path-style by
    # default; a 403 comes back as PermissionError with S3's XML error in the message.
    refusal = r"^PermissionError: object-store error: The operation lacked the necessary privileges.*403 Forbidden.*<Code>AccessDenied</Code>"

    def auto():
        import polars as pl

        # credential_provider="auto" (the default): with boto3 installed, polars asks a new
        # boto3.Session for credentials (the container provider). Nothing to write.
        return {"parquet": lambda key: pl.read_parquet(f"s3://{args.bucket}/{key}").height, "refusal": refusal}

    def object_store():
        import polars as pl

        # credential_provider=None: object_store's own chain, as without boto3 in the image.
        return {"parquet": lambda key: pl.read_parquet(f"s3://{args.bucket}/{key}", credential_provider=None).height, "refusal": refusal}

    return [("read_parquet (boto3 credentials)", auto), ("read_parquet (object_store credentials)", object_store)]


def s3torchconnector_variants():
    def setup():
        from s3torchconnectorclient._mountpoint_s3_client import MountpointS3Client

        # The client s3torchconnector's S3Client wraps (Mountpoint's, on the AWS CRT). It ignores
        # AWS_ENDPOINT_URL_S3, and puts the bucket in the host name unless told otherwise; the
        # user's line with s3torchconnector is
        #   S3MapDataset.from_prefix(uri, region=os.environ["AWS_REGION"], endpoint=os.environ["AWS_ENDPOINT_URL_S3"],
        #                            s3client_config=S3ClientConfig(force_path_style=True))
        client = MountpointS3Client(region=env["AWS_REGION"], endpoint=endpoint(), force_path_style=True)
        return {
            "read": lambda key: b"".join(client.get_object(args.bucket, key)),
            "list": lambda prefix: [o.key for page in client.list_objects(args.bucket, prefix) for o in page.object_info],
            "refusal": r"^S3Exception: Client error: Forbidden: Access Denied",
        }

    return [("MountpointS3Client", setup)]


def s5cmd_variants():
    def setup():
        s5cmd = tool("s5cmd")
        # s5cmd ignores AWS_ENDPOINT_URL_S3: the one line is its flag (or S3_ENDPOINT_URL=... in the env)
        #   s5cmd --endpoint-url "$AWS_ENDPOINT_URL_S3" cat s3://bucket/key
        # It finds credentials with aws-sdk-go v1's chain, which knows AWS_CONTAINER_AUTHORIZATION_TOKEN
        # but not AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE. Path-style is its default off AWS.
        base = [s5cmd, "--endpoint-url", endpoint()]
        return {
            "read": lambda key: command([*base, "cat", f"s3://{args.bucket}/{key}"], binary=True),
            # `ls s3://b/p*` prints each key from the prefix's last folder on
            "list": lambda prefix: [
                prefix[: prefix.rfind("/") + 1] + line.split()[-1]
                for line in command([*base, "ls", f"s3://{args.bucket}/{prefix}*"]).splitlines()
                if line.strip() and not line.split()[-1].endswith("/")
            ],
            # `cat` does a HeadObject first (a 403 without a body); `ls` gets AccessDenied
            "refusal": r'ERROR "(cat|ls) s3://[^"]+": (Forbidden: Forbidden|AccessDenied: Access Denied\.) status code: 403',
        }

    return [("s5cmd", setup)]


def go_variants():
    def setup():
        reader = tool("valet-lab-s3-reader")

        # aws-sdk-go-v2's config.LoadDefaultConfig (AWS_ENDPOINT_URL_S3 included); the program's
        # one line for an S3-compatible store is s3.Options.UsePathStyle = true.
        def run(*argv):
            res = subprocess.run([reader, *argv], capture_output=True, timeout=300, check=False)
            out = res.stdout.decode(errors="replace").strip()
            if res.returncode != 0:
                raise CommandFailed(f"valet-lab-s3-reader exited {res.returncode}: {out} {res.stderr.decode(errors='replace').strip()}")
            return json.loads(out)

        def read(key):
            got = run("get", args.bucket, key)
            # The reader streams and hashes; check_bytes needs bytes, so compare its digest here.
            return _Digest(got["bytes"], got["sha256"])

        return {
            "read": read,
            "list": lambda prefix: run("list", args.bucket, prefix)["keys"],
            "refusal": r'"code": ?"AccessDenied".*"status": ?403',
        }

    return [("config.LoadDefaultConfig", setup)]


class _Digest:
    """What the Go reader prints about an object (its length and SHA-256), standing in for its bytes."""

    def __init__(self, size, sha256):
        self.size, self.sha256 = size, sha256


def webdataset_variants():
    def setup():
        import webdataset as wds

        # webdataset reads http(s) shards with `curl -f -s -L` (it follows the loader's 302 to the
        # presigned URL); no credentials at all. A refused shard makes curl exit 22 silently:
        # webdataset reports a tar ReadError ("empty file") or an OSError naming curl's exit 22.
        def expand(urls):
            base = env.get("VALET_LOADER_URL", "").rstrip("/")
            return " ".join(base + u if u.startswith("/") else u for u in urls.split())

        def shards(urls):
            import braceexpand

            return [u for pattern in expand(urls).split() for u in braceexpand.braceexpand(pattern)]

        def count(urls):
            # shardshuffle=False: the shards in order, each once
            return sum(1 for _ in wds.WebDataset(shards(urls), shardshuffle=False))

        def http_status(urls):
            """The HTTP answer for the first URL after redirects (the refusal as S3 or the loader gives it)."""
            url = shards(urls)[0]
            try:
                with urllib.request.urlopen(url, timeout=60) as res:
                    res.read()
                    return res.status
            except urllib.error.HTTPError as err:
                raise CommandFailed(f"HTTP {err.code}: {err.read().decode(errors='replace')[:500]}") from None

        # Which of the two errors a refused shard gives depends on whether tarfile reads the empty
        # stream before webdataset checks curl's exit status.
        refusal = r"^(ReadError: .*empty file|OSError: .*'curl'.*exit 22)"
        return {"samples": count, "http": http_status, "refusal": refusal, "http_refusal": r"^CommandFailed: HTTP 403"}

    return [("WebDataset", setup)]


VARIANTS = {
    "boto3": boto3_variants,
    "awscli": awscli_variants,
    "pyarrow": pyarrow_variants,
    "s3fs": s3fs_variants,
    "pandas": pandas_variants,
    "polars": polars_variants,
    "s3torchconnector": s3torchconnector_variants,
    "s5cmd": s5cmd_variants,
    "go-sdk-v2": go_variants,
    "webdataset": webdataset_variants,
}


def check_read(step, data):
    if isinstance(data, _Digest):
        global failures
        wrong = (args.expect_size is not None and data.size != args.expect_size) or (args.expect_sha256 is not None and data.sha256 != args.expect_sha256.lower())
        if wrong or data.size == 0:
            failures += 1
        report(step, "WRONG" if wrong or data.size == 0 else "ok", bytes=data.size, sha256=data.sha256)
    else:
        check_bytes(step, data)


def run_variant(client):
    if "samples" in client:
        n = attempt("read", lambda: client["samples"](args.urls))
        if n is not None:
            check_count("read", "samples", n, args.expect_samples)
        if args.forbidden_urls:
            expect_refused("read-forbidden", lambda: client["samples"](args.forbidden_urls), client["refusal"])
            expect_refused("read-forbidden-http", lambda: client["http"](args.forbidden_urls), client["http_refusal"])
        return
    read = client.get("read")
    parquet = client.get("parquet")
    if read and args.allowed_key:
        data = attempt("read", lambda: read(args.allowed_key))
        if data is not None:
            check_read("read", data)
    if parquet and args.parquet_key:
        rows = attempt("read-parquet", lambda: parquet(args.parquet_key))
        if rows is not None:
            check_count("read-parquet", "rows", rows, args.expect_rows)
    if client.get("list") and args.allowed_prefix is not None:
        keys = attempt("list", lambda: client["list"](args.allowed_prefix))
        if keys is not None:
            check_listing("list", keys)
    if args.forbidden_key:
        if read:
            expect_refused("read-forbidden", lambda: read(args.forbidden_key), client["refusal"])
        if parquet:
            # The refusal comes before any parsing, so the forbidden object need not be parquet.
            expect_refused("read-parquet-forbidden", lambda: parquet(args.forbidden_key), client["refusal"])
    if client.get("list") and args.forbidden_prefix is not None:
        expect_refused("list-forbidden", lambda: client["list"](args.forbidden_prefix), client["refusal"])


def hold(client):
    """Reads again and again with the same client object: the endpoint's log shows its refreshes."""

    def again():
        if client.get("read") and args.allowed_key:
            check_read("hold-read", client["read"](args.allowed_key))
        elif client.get("parquet") and args.parquet_key:
            check_count("hold-read", "rows", client["parquet"](args.parquet_key), args.expect_rows)

    started = time.monotonic()
    while time.monotonic() - started < args.hold:
        time.sleep(args.hold_interval)
        attempt("hold-read", again)


def main():
    global variant_name
    for name, setup in VARIANTS[args.client]():
        variant_name = name
        client = attempt("setup", setup)
        if client is None:
            continue
        run_variant(client)
        if args.hold > 0:
            hold(client)
    variant_name = ""
    report("done", "ok" if failures == 0 else "FAILED", failures=failures)
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
