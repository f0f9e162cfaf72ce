"""S3 and SES on the local moto server, set up as the packaged template sets them up in AWS: the
attachments bucket with CORS for the allowed origins, and a verified sender identity."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def prepare(endpoint: str, region: str, bucket: str, origins: Iterable[str], sender: str | None) -> None:
    """Create the bucket (kept when it exists), give it CORS for ``origins``, verify ``sender``."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    s3: Any = boto3.client("s3", endpoint_url=endpoint, region_name=region,
                           config=Config(s3={"addressing_style": "path"}))
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": sorted(set(origins)) or ["http://127.0.0.1:*"],
        "AllowedMethods": ["GET", "HEAD", "POST"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600}]})
    if sender:
        ses: Any = boto3.client("sesv2", endpoint_url=endpoint, region_name=region)
        try:
            ses.create_email_identity(EmailIdentity=sender)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "AlreadyExistsException":
                raise
