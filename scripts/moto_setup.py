"""Creates the resources the sample events in events/ refer to on a moto server.

Usage: python3 scripts/moto_setup.py ENDPOINT
Bucket `gras-lake-local`, tables `gras_state`, `gras_features` and `gras_models`, the
training queue `gras-train`, and the bronze object
named in events/sqs-s3-put.json (24 hourly rows for series `a` and `_all`) plus the bad
file named in events/sqs-batch-test-bad-good.json.
"""
import io
import sys
from datetime import datetime, timedelta, timezone

import boto3
import pyarrow as pa
import pyarrow.parquet as pq

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
ddb = boto3.client("dynamodb", **kw)
bucket = "gras-lake-local"
if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket=bucket)
existing = ddb.list_tables()["TableNames"]
for name, keys in [("gras_state", ["pk", "sk"]), ("gras_features", ["pk"]), ("gras_models", ["metric_id", "version"]), ("gras_predictions", ["metric_id", "timestamp"]), ("gras_alerts", ["metric_id", "ts"])]:
    if name in existing:
        continue
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ["HASH", "RANGE"])],
    )
t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
ts, series, value = [], [], []
for h in range(24):
    for s in ["a", None]:
        ts.append(t0 + timedelta(hours=h, minutes=h % 3))
        series.append(s)
        value.append(10.0 + (h * 7) % 11)
table = pa.table({"series_key": pa.array(series, pa.string()), "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")), "value": pa.array(value, pa.float64())})
buf = io.BytesIO()
pq.write_table(table, buf)
s3.put_object(Bucket=bucket, Key="bronze/gras/metric=G/year=2024/month=01/day=01/part 0000.parquet", Body=buf.getvalue())
s3.put_object(Bucket=bucket, Key="bronze/gras/metric=G/year=2024/month=01/day=02/broken file.parquet", Body=b"garbage")
sqs = boto3.client("sqs", **kw)
sqs.create_queue(QueueName="gras-train")
sqs.create_queue(QueueName="gras-alerts")
print("moto resources ready")
