#!/usr/bin/env python3
"""Print the versioning, object lock and lifecycle settings of buckets, read from the S3 endpoint itself.

S3_ENDPOINT=... S3_ACCESS_KEY=... S3_SECRET_KEY=... S3_REGION=... s3_check.py BUCKET...
"""

import json
import os
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def main():
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name=os.environ["S3_REGION"],
        config=Config(s3={"addressing_style": "path"}),
    )
    out = {}
    for bucket in sys.argv[1:]:
        info = {"versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status")}
        try:
            info["object_lock"] = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
        except ClientError as exc:
            info["object_lock"] = {"error": exc.response["Error"]["Code"]}
        try:
            info["lifecycle"] = [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]]
        except ClientError as exc:
            info["lifecycle"] = {"error": exc.response["Error"]["Code"]}
        out[bucket] = info
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
