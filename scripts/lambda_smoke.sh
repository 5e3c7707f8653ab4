#!/usr/bin/env bash
# Runs the features, train, infer and api functions locally with `cargo lambda watch` against moto and invokes it
# with the sample events (`cargo lambda invoke --data-file`), checking the partial batch
# responses. Needs GRAS_TEST_AWS_ENDPOINT (a running moto server; scripts/test.sh starts it).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${GRAS_TEST_AWS_ENDPOINT:?start moto first (scripts/test.sh does)}"
python3 scripts/moto_setup.py "$GRAS_TEST_AWS_ENDPOINT"

train_queue=$(python3 - "$GRAS_TEST_AWS_ENDPOINT" <<'PY'
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
print(boto3.client("sqs", **kw).get_queue_url(QueueName="gras-train")["QueueUrl"])
PY
)
alerts_queue=${train_queue%gras-train}gras-alerts
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" \
  --env-var GRAS_LAKE_BUCKET=gras-lake-local \
  --env-var GRAS_AWS_ENDPOINT="$GRAS_TEST_AWS_ENDPOINT" \
  --env-var GRAS_S3_FORCE_PATH_STYLE=true \
  --env-var AWS_REGION=us-east-1 \
  --env-var AWS_ACCESS_KEY_ID=testing \
  --env-var AWS_SECRET_ACCESS_KEY=testing \
  --env-var GRAS_METRICS=cloudwatch \
  --env-var GRAS_TRAIN_QUEUE_URL="$train_queue" \
  --env-var GRAS_ALERTS_QUEUE_URL="$alerts_queue" \
  >"$log" 2>&1 &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null || true; wait $watch_pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 1
done

invoke() {
  invoke_fn features "$1"
}
invoke_fn() {
  cargo lambda invoke "$1" --invoke-address 127.0.0.1 --invoke-port "$port" --data-file "$2" --output-format json
}

out=$(invoke events/sqs-s3-put.json) || { cat "$log"; exit 1; }
echo "sqs-s3-put.json -> $out"
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r.get("batchItemFailures") == [], r
PY

out=$(invoke events/sqs-batch-test-bad-good.json) || { cat "$log"; exit 1; }
echo "sqs-batch-test-bad-good.json -> $out"
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
ids = [f["itemIdentifier"] for f in r["batchItemFailures"]]
assert ids == ["c80e8021-a70a-42c7-a470-796cb4f0e0b8"], ids
PY
python3 - "$GRAS_TEST_AWS_ENDPOINT" <<'PY'
import sys, boto3
kw = dict(endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
keys = [o["Key"] for o in s3.list_objects_v2(Bucket="gras-lake-local", Prefix="silver/").get("Contents", [])]
assert keys == ["silver/gras/features/metric=G/date=2024-01-01/part-0.parquet"], keys
item = boto3.client("dynamodb", **kw).get_item(TableName="gras_features", Key={"pk": {"S": "G#a"}})["Item"]
assert item["ts"]["S"] == "2024-01-01T23:00:00Z", item
cw = boto3.client("cloudwatch", **kw)
names = {m["MetricName"] for m in cw.list_metrics(Namespace="GRAS")["Metrics"]}
assert {"Files", "RowsRead", "PartitionsWritten", "Duration"} <= names, names
print("lambda smoke: silver, online item and CloudWatch metrics present")
PY
# The training function: the schedule fans out one task per configured metric onto the
# training queue; SQS tasks train (no history yet: acknowledged) and a bad task fails alone.
out=$(invoke_fn train events/eventbridge-schedule-train.json) || { cat "$log"; exit 1; }
echo "eventbridge-schedule-train.json -> $out"
python3 - "$out" "$GRAS_TEST_AWS_ENDPOINT" "$train_queue" <<'PY'
import json, sys, boto3
r = json.loads(sys.argv[1])
assert r["tasks"] == 4 and r["metrics"] == ["A", "G", "R", "S"], r
kw = dict(endpoint_url=sys.argv[2], region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
sqs = boto3.client("sqs", **kw)
n = int(sqs.get_queue_attributes(QueueUrl=sys.argv[3], AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
assert n == 4, n
PY
out=$(invoke_fn train events/sqs-train-tasks.json) || { cat "$log"; exit 1; }
echo "sqs-train-tasks.json -> $out"
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
ids = [f["itemIdentifier"] for f in r["batchItemFailures"]]
assert ids == ["e7d5c3b1-9f8e-4d7c-a6b5-c4d3e2f1a0b9"], ids
PY
# The inference function: nothing is approved yet, so every metric reports no version.
out=$(invoke_fn infer events/eventbridge-schedule-infer.json) || { cat "$log"; exit 1; }
echo "eventbridge-schedule-infer.json -> $out"
python3 - "$out" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert [m["metric"] for m in r] == ["A", "G", "R", "S"] and all(m["version"] is None for m in r), r
PY
# The API function: API Gateway HTTP API (payload v2) events through lambda_http.
for case in "apigw-get-health 200 -" "apigw-get-models 200 -" "apigw-get-features 404 not_found" \
            "apigw-post-analyze 409 no_approved_model" "apigw-post-analyze-unauthorized 401 unauthorized" \
            "apigw-post-reject 404 not_found" "apigw-get-overview 200 -" "apigw-get-window 200 -" \
            "apigw-get-asset 404 not_found" "apigw-post-rollback 409 nothing_to_roll_back"; do
  set -- $case
  out=$(invoke_fn api "events/$1.json") || { cat "$log"; exit 1; }
  echo "$1.json -> $out"
  python3 - "$out" "$2" "$3" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
assert r["statusCode"] == int(sys.argv[2]), r
body = json.loads(r["body"])
if sys.argv[3] != "-":
    assert body["error"]["code"] == sys.argv[3], body
assert r["headers"]["content-type"] == "application/json", r
PY
done
echo "lambda smoke passed"
