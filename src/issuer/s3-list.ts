// ListObjectsV2 with a scoped key, page by page (the sidecar's manifests). One S3 client per
// listing: a listing is many pages, so the client's cost is spread over them, and a client never
// outlives the key it was built with. The S3 client is imported on first use: only manifests list,
// and loading it costs every sidecar start about half its module time (docs/performance.md §8).

export interface ListedObject {
  key: string;
  size: number;
}

export interface ListRequest {
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  bucket: string;
  region: string;
  /** S3-compatible endpoint; path-style addressing when given. */
  endpoint?: string;
  prefix: string;
  /** Keys per page, at most 1,000 (S3's limit). */
  pageSize?: number;
  signal?: AbortSignal;
}

export type ObjectLister = (req: ListRequest) => AsyncIterable<ListedObject[]>;

export async function* listObjects(req: ListRequest): AsyncGenerator<ListedObject[]> {
  const { ListObjectsV2Command, S3Client } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    region: req.region,
    ...(req.endpoint ? { endpoint: req.endpoint, forcePathStyle: true } : {}),
    credentials: req.credentials,
    maxAttempts: 3,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: req.bucket, Prefix: req.prefix, ContinuationToken: token, MaxKeys: req.pageSize ?? 1000 }),
        { abortSignal: req.signal },
      );
      yield (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ key: o.Key, size: o.Size ?? 0 }]));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
}
