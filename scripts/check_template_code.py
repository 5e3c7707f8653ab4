#!/usr/bin/env python3
"""Checks the SAM template against the Rust code (no AWS, no cargo: it reads the sources).

Usage: python3 scripts/check_template_code.py [template]     (default: template.yaml)

Run by scripts/check_template.sh with the cfn-lint virtualenv's Python (the template is read
with cfn-lint's decoder, `cfnlint.decode`); any Python 3.11+ with PyYAML works too.

What it checks, each from the code rather than from a copy of it:

1. Binaries. Every AWS::Serverless::Function is built with `BuildMethod: rust-cargolambda`
   and its `Metadata.BuildProperties.Binary` is a binary of a workspace member under
   functions/ (functions/*/Cargo.toml: the package name when src/main.rs exists, every
   [[bin]] name, src/bin/*.rs); every such crate is deployed by some function.

2. Environment. The GRAS_* variables a function reads are found by scanning its crate
   (functions/<crate>/src) and, when the crate depends on gras-shared, the shared crate
   (shared/src), test modules left out: `required_env(X)`, `std::env::var(X)` and
   `std::env::var_os(X)`, X a string literal or a `const NAME: &str = "GRAS_..."`. Read
   with `required_env` is required (missing or empty fails at cold start), anything else
   is optional (has a default). Today that gives:
     required  GRAS_LAKE_BUCKET (every function: AwsEnv::from_env, shared/src/lambda.rs),
               GRAS_TRAIN_QUEUE_URL (train, infer), GRAS_ALERTS_QUEUE_URL (infer);
     optional  GRAS_TABLE_PREFIX (default none), GRAS_METRICS (default cloudwatch),
               GRAS_CONFIG / GRAS_CONFIG_TOML (default: config/gras.toml compiled in),
               GRAS_AWS_ENDPOINT / GRAS_S3_FORCE_PATH_STYLE (emulators only).
   Checked: every required variable is set (Globals.Function.Environment plus the
   function's own) and not empty; every GRAS_* variable set is read by the code; and the
   values fit the code: *_BUCKET is !Ref of a bucket, *_QUEUE_URL !Ref of a queue (Ref
   gives the URL), GRAS_TABLE_PREFIX is the parameter the DynamoDB table names start with
   (tables are looked up as <prefix><name>), GRAS_METRICS is a value shared/src/lambda.rs
   accepts, and the emulator-only variables are not set.

3. Tables and queues. The DynamoDB tables of the template are the code's TableSpec
   constants (name after the prefix, hash and range keys, all S). Which tables each
   function touches, with which DynamoDB actions, is the TABLE_USE mapping below, written
   from reading the code (it names the functions it comes from; update it with the code);
   each (table, action) must be allowed by the function's policies (SAM policy templates
   or inline statements on the table's ARN), and a table in a function's policies that it
   does not use fails too (least privilege). Queues: a *_QUEUE_URL variable goes to
   SqsQueue (shared/src/queue.rs), whose SQS calls are scanned to get the IAM actions
   (send_message_batch -> sqs:SendMessage), which the function's policies must allow on
   that queue; a queue in a function's send policies without a variable fails; every SQS
   event source is a queue of the template. Every queue that is not a dead-letter queue
   has a redrive policy, and every dead-letter queue has a CloudWatch alarm on its depth.

4. Events. Every events/*.json file matches a declared event source: sqs-*.json records
   come from a queue (eventSourceARN, with the stack name of samconfig.toml) that is an SQS
   event source of a function; eventbridge-schedule-<fn>.json is a scheduled event of the
   function built from binary <fn>, which has a Schedule event (and the rule named in
   `resources` is that schedule's name); apigw-*.json is an HTTP API (payload 2.0) request
   whose method and routeKey are the Method and Path of an HttpApi event. Conversely every
   SQS event, schedule and HttpApi route has an events/ file.

5. Glue tables. The Athena tables over silver and predictions have the columns, order
   and types of `schema()` in shared/src/silver.rs and shared/src/predictions.rs; their
   projected partition keys, storage.location.template and date format are the key
   layout of shared/src/contract.rs (silver_key, predictions_key); the metric enum
   projection lists the metrics of config/gras.toml (the configuration compiled into the
   functions); the SerDe is Parquet's.

Exits 1 with one line per mismatch; prints what it checked.
"""

from __future__ import annotations

import fnmatch
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Which DynamoDB tables each function touches and with which actions, from the code
# (TableStore calls: get -> GetItem, put -> PutItem, delete -> DeleteItem, query/query_all
# -> Query, batch_put -> BatchWriteItem, transact Put -> PutItem; shared/src/storage/aws/dynamodb.rs).
# Keyed by binary name; table names as in shared/src/contract.rs `table`.
TABLE_USE: dict[str, dict[str, set[str]]] = {
    # FeatureEngine (shared/src/pipeline/features/, state/, online.rs)
    "features": {
        # conditional upsert of each series' newest row; delete of vanished series
        "gras_features": {"dynamodb:PutItem", "dynamodb:DeleteItem"},
        # manifests, partition index, series extents (batch_put), leases
        "gras_state": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
                       "dynamodb:Query", "dynamodb:BatchWriteItem"},
    },
    # Trainer (shared/src/pipeline/train/, registry.rs, artifact.rs, state/)
    "train": {
        # run shards and final marker, extents, the approval pointer (registry::approved,
        # and registry::approve's transaction when a version is approved automatically)
        "gras_state": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem",
                       "dynamodb:Query"},
        # registry::register, registry::get, registry::approve (transaction)
        "gras_models": {"dynamodb:GetItem", "dynamodb:PutItem"},
    },
    # Inferencer::run (shared/src/pipeline/infer.rs, alerts.rs, registry.rs)
    "infer": {
        # approval pointer; retrain cool-down and eval#<M> live scores; alerts index
        "gras_state": {"dynamodb:GetItem", "dynamodb:PutItem"},
        "gras_models": {"dynamodb:GetItem"},  # registry::approved
        # forecasts to score against actuals; new forecasts
        "gras_predictions": {"dynamodb:Query", "dynamodb:BatchWriteItem"},
        "gras_alerts": {"dynamodb:PutItem"},  # alerts::deliver (conditional put)
    },
    # the router (shared/src/api/), registry.rs, Inferencer::analyze
    "api": {
        "gras_predictions": {"dynamodb:Query", "dynamodb:BatchWriteItem"},  # forecasts; analyze
        "gras_features": {"dynamodb:GetItem"},  # online features
        "gras_alerts": {"dynamodb:Query"},  # alerts of one series
        # alerts index by metric (Query); approval pointer (GetItem; PutItem in the
        # approve transaction)
        "gras_state": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"},
        # list (Query), get, approve transaction (PutItem)
        "gras_models": {"dynamodb:Query", "dynamodb:GetItem", "dynamodb:PutItem"},
    },
}

# Variables only meant for emulators (shared/src/storage/aws/): never in the deployment.
EMULATOR_ONLY = {"GRAS_AWS_ENDPOINT", "GRAS_S3_FORCE_PATH_STYLE"}

# SAM policy templates (samtranslator policy_templates.json) used for tables and queues.
SAM_POLICY_ACTIONS = {
    "DynamoDBCrudPolicy": {"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem",
                           "dynamodb:Scan", "dynamodb:Query", "dynamodb:UpdateItem",
                           "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem",
                           "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"},
    "DynamoDBReadPolicy": {"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query",
                           "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
    "DynamoDBWritePolicy": {"dynamodb:PutItem", "dynamodb:UpdateItem",
                            "dynamodb:BatchWriteItem"},
    "SQSSendMessagePolicy": {"sqs:SendMessage*"},
    "SQSPollerPolicy": {"sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch",
                        "sqs:DeleteMessage", "sqs:DeleteMessageBatch",
                        "sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
}
SAM_POLICY_ARG = {"DynamoDBCrudPolicy": "TableName", "DynamoDBReadPolicy": "TableName",
                  "DynamoDBWritePolicy": "TableName", "SQSSendMessagePolicy": "QueueName",
                  "SQSPollerPolicy": "QueueName"}

# SQS SDK calls (aws-sdk-sqs fluent builders) -> IAM actions.
SQS_CALL_ACTIONS = {
    "send_message": "sqs:SendMessage", "send_message_batch": "sqs:SendMessage",
    "receive_message": "sqs:ReceiveMessage", "delete_message": "sqs:DeleteMessage",
    "delete_message_batch": "sqs:DeleteMessage",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "get_queue_url": "sqs:GetQueueUrl", "purge_queue": "sqs:PurgeQueue",
}

# Arrow types of the schemas -> Glue/Hive column types.
ARROW_TO_GLUE = {"Utf8": "string", "LargeUtf8": "string", "Float64": "double",
                 "Float32": "float", "Int32": "int", "Int64": "bigint", "Int16": "smallint",
                 "Int8": "tinyint", "Boolean": "boolean", "Timestamp": "timestamp",
                 "Date32": "date"}

class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.section = ""

    def start(self, title: str) -> None:
        self.section = title
        print(f"\n-- {title}")

    def ok(self, msg: str) -> None:
        print(f"   ok: {msg}")

    def fail(self, msg: str) -> None:
        self.errors.append(f"[{self.section}] {msg}")
        print(f"   FAIL: {msg}")


# ------------------------------------------------------------------------------------------
# Template
# ------------------------------------------------------------------------------------------

def load_template(path: Path) -> dict:
    try:
        import cfnlint.decode  # the cfn-lint virtualenv
        template, matches = cfnlint.decode.decode(str(path))
        if matches or template is None:
            raise SystemExit(f"{path}: cannot parse: {[str(m) for m in matches]}")
        return template
    except ImportError:
        pass
    import yaml  # PyYAML, with the CloudFormation short tags

    class Loader(yaml.SafeLoader):
        pass

    def construct(tag: str):
        name = "Ref" if tag == "Ref" else f"Fn::{tag}"

        def f(loader, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {name: value}
        return f

    for tag in ["Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Join", "Split",
                "Select", "FindInMap", "GetAZs", "ImportValue", "Base64", "Cidr",
                "Condition", "Transform", "Length", "ToJsonString"]:
        Loader.add_constructor(f"!{tag}", construct(tag))
    with open(path) as fh:
        return yaml.load(fh, Loader=Loader)


def getatt(node) -> tuple[str, str] | None:
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        v = node["Fn::GetAtt"]
        if isinstance(v, str):
            v = v.split(".", 1)
        return str(v[0]), str(v[1])
    return None


def ref(node) -> str | None:
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return str(node["Ref"])
    return None


def sub_text(node) -> str | None:
    """The template string of a Fn::Sub (short or long form), or a plain string."""
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dict) and "Fn::Sub" in node:
        v = node["Fn::Sub"]
        return str(v if isinstance(v, str) else v[0])
    return None


def resolve_name(node, stack: str, params: dict) -> str | None:
    """A literal name, or a Sub/Ref over the stack name and parameter defaults."""
    p = ref(node)
    if p is not None:
        d = params.get(p, {}).get("Default")
        return None if d is None else str(d)
    text = sub_text(node)
    if text is None:
        return None

    def var(m: re.Match) -> str:
        name = m.group(1)
        if name == "AWS::StackName":
            return stack
        if name in params and "Default" in params[name]:
            return str(params[name]["Default"])
        raise KeyError(name)
    try:
        return re.sub(r"\$\{([^!}][^}]*)\}", var, text)
    except KeyError:
        return None


# ------------------------------------------------------------------------------------------
# Rust sources (read, not compiled)
# ------------------------------------------------------------------------------------------

def strip_rust(text: str) -> str:
    """Rust source without comments and without `#[cfg(test)] mod ... { }` blocks. String and
    char literals are kept (comment markers inside them are not comments)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(text[i:end])
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            if m:  # a char literal; otherwise a lifetime
                out.append(m.group(0))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    code = "".join(out)
    # Test modules: `#[cfg(test)]` followed by `mod name {`, removed with their braces.
    while True:
        m = re.search(r"#\[cfg\(test\)\]\s*(?:#\[[^\]]*\]\s*)*(?:pub\s+)?mod\s+\w+\s*\{", code)
        if not m:
            break
        end = match_brace(code, m.end() - 1)
        code = code[:m.start()] + code[end + 1:]
    return code


def match_brace(code: str, open_at: int) -> int:
    """Index of the `}` closing the `{` at open_at (string literals skipped)."""
    depth, i = 0, open_at
    while i < len(code):
        c = code[i]
        if c == '"':
            i += 1
            while i < len(code) and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError("unbalanced braces")


def fn_body(code: str, name: str) -> str | None:
    m = re.search(rf"\bfn\s+{re.escape(name)}\s*(?:<[^>]*>)?\s*\(", code)
    if not m:
        return None
    start = code.find("{", m.end())
    return code[start:match_brace(code, start) + 1]


def rust_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.rs"))


STR_CONST = re.compile(r"\bconst\s+(\w+)\s*:\s*&(?:'static\s+)?str\s*=\s*\"([^\"]*)\"\s*;")
ENV_READ = re.compile(
    r"\b(required_env|(?:std::)?env::var(?:_os)?)\s*\(\s*(\"[^\"]*\"|[A-Za-z_][\w:]*)\s*\)")


def str_consts(code: str) -> dict[str, str]:
    return dict(STR_CONST.findall(code))


def module_consts(code: str, module: str) -> dict[str, str]:
    """String constants of `pub mod <module> { ... }` in a file."""
    m = re.search(rf"\bmod\s+{module}\s*\{{", code)
    if not m:
        return {}
    end = match_brace(code, m.end() - 1)
    return str_consts(code[m.end():end])


def env_reads(files: list[Path], consts: dict[str, str]) -> dict[str, dict]:
    """GRAS_* variables read in files: name -> {required: bool, where: [..]}."""
    reads: dict[str, dict] = {}
    for path in files:
        code = strip_rust(path.read_text())
        local = {**consts, **str_consts(code)}
        for func, arg in ENV_READ.findall(code):
            if arg.startswith('"'):
                name = arg.strip('"')
            else:
                name = local.get(arg.split("::")[-1])
            if not name or not name.startswith("GRAS_"):
                continue
            r = reads.setdefault(name, {"required": False, "where": []})
            r["required"] |= func == "required_env"
            r["where"].append(f"{path.relative_to(ROOT)} ({func})")
    return reads


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------

def workspace_binaries(rep: Report) -> dict[str, dict]:
    """Binaries of the workspace members under functions/: name -> crate info."""
    root = tomllib.loads((ROOT / "Cargo.toml").read_text())
    members: list[Path] = []
    for pattern in root.get("workspace", {}).get("members", []):
        members += sorted(p for p in ROOT.glob(pattern) if (p / "Cargo.toml").exists())
    bins: dict[str, dict] = {}
    for crate_dir in members:
        if crate_dir.relative_to(ROOT).parts[0] != "functions":
            continue
        manifest = tomllib.loads((crate_dir / "Cargo.toml").read_text())
        package = manifest["package"]["name"]
        deps = set(manifest.get("dependencies", {}))
        names: dict[str, Path] = {}
        autobins = manifest["package"].get("autobins", True)
        if autobins and (crate_dir / "src/main.rs").exists():
            names[package] = crate_dir / "src/main.rs"
        if autobins:
            for p in sorted((crate_dir / "src/bin").glob("*.rs")):
                names[p.stem] = p
        for b in manifest.get("bin", []):
            names[b["name"]] = crate_dir / b.get("path", f"src/bin/{b['name']}.rs")
        for name, path in names.items():
            if not path.exists():
                rep.fail(f"{crate_dir.relative_to(ROOT)}: binary {name} has no source {path.relative_to(ROOT)}")
            bins[name] = {"dir": crate_dir, "package": package, "deps": deps, "main": path}
    return bins


def check_binaries(rep: Report, functions: dict, bins: dict) -> dict[str, str]:
    rep.start("1. handler binaries (functions/*/Cargo.toml)")
    binary_of: dict[str, str] = {}
    for fid, res in functions.items():
        meta = res.get("Metadata") or {}
        if meta.get("BuildMethod") != "rust-cargolambda":
            rep.fail(f"{fid}: Metadata.BuildMethod is {meta.get('BuildMethod')!r}, not rust-cargolambda")
        binary = (meta.get("BuildProperties") or {}).get("Binary")
        if binary is None:
            rep.fail(f"{fid}: no Metadata.BuildProperties.Binary")
            continue
        if binary not in bins:
            rep.fail(f"{fid}: binary {binary!r} is not a binary of a workspace crate under functions/ "
                     f"(there are: {', '.join(sorted(bins))})")
            continue
        binary_of[fid] = binary
        b = bins[binary]
        rep.ok(f"{fid}: binary {binary} = crate {b['dir'].relative_to(ROOT)} ({b['main'].relative_to(ROOT)})")
    for name, b in sorted(bins.items()):
        if name not in binary_of.values():
            rep.fail(f"binary {name} ({b['dir'].relative_to(ROOT)}) is deployed by no function")
    return binary_of


def check_environment(rep: Report, t: dict, functions: dict, binary_of: dict, bins: dict) -> None:
    rep.start("2. environment variables (required_env / env::var in the code)")
    shared_files = rust_files(ROOT / "shared/src")
    shared_consts: dict[str, str] = {}
    for p in shared_files:
        shared_consts.update(str_consts(strip_rust(p.read_text())))
    shared_reads = env_reads(shared_files, shared_consts)
    lambda_rs = strip_rust((ROOT / "shared/src/lambda.rs").read_text())
    metrics_values = set(re.findall(r'Ok\("(\w+)"\)', fn_body(lambda_rs, "from_env") or ""))
    if not metrics_values:
        rep.fail("could not read the accepted GRAS_METRICS values from shared/src/lambda.rs")
    params = t.get("Parameters", {})
    resources = t["Resources"]
    globals_env = (((t.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}

    # The parameter the DynamoDB table names start with (TableName: !Sub "${P}gras_...").
    prefixes = set()
    for lid, res in resources.items():
        if res.get("Type") == "AWS::DynamoDB::Table":
            m = re.match(r"\$\{(\w+)\}", sub_text(res["Properties"].get("TableName")) or "")
            prefixes.add(m.group(1) if m else None)

    for fid, binary in binary_of.items():
        b = bins[binary]
        crate_files = rust_files(b["dir"] / "src")
        crate_consts = dict(shared_consts)
        for p in crate_files:
            crate_consts.update(str_consts(strip_rust(p.read_text())))
        reads = {k: {"required": v["required"], "where": list(v["where"])}
                 for k, v in env_reads(crate_files, crate_consts).items()}
        if "gras-shared" in b["deps"]:
            for k, v in shared_reads.items():
                r = reads.setdefault(k, {"required": False, "where": []})
                r["required"] |= v["required"]
                r["where"] += v["where"]
        own = ((functions[fid].get("Properties", {}).get("Environment") or {}).get("Variables") or {})
        env = {**globals_env, **own}
        required = sorted(k for k, v in reads.items() if v["required"])
        optional = sorted(k for k, v in reads.items() if not v["required"])
        for name in required:
            if name not in env:
                rep.fail(f"{fid}: reads {name} with required_env ({'; '.join(reads[name]['where'])}) but it is not set")
            elif env[name] == "" or env[name] is None:
                rep.fail(f"{fid}: {name} is required and set to an empty string")
            elif ref(env[name]) in params and str(params[ref(env[name])].get("Default", "x")) == "":
                rep.fail(f"{fid}: {name} is required but !Ref {ref(env[name])}, whose default is empty")
        for name in env:
            if name.startswith("GRAS_") and name not in reads:
                rep.fail(f"{fid}: sets {name}, which the code of {binary} never reads")
            if name in EMULATOR_ONLY:
                rep.fail(f"{fid}: sets {name}, meant for emulators only")
        for name, value in env.items():
            target = ref(value)
            want = ("AWS::S3::Bucket" if name.endswith("_BUCKET")
                    else "AWS::SQS::Queue" if name.endswith("_QUEUE_URL") else None)
            if want and (target not in resources or resources[target]["Type"] != want):
                rep.fail(f"{fid}: {name} should be !Ref of an {want}, is {value!r}")
        if "GRAS_TABLE_PREFIX" in reads:
            if len(prefixes) != 1 or None in prefixes:
                rep.fail(f"DynamoDB table names do not all start with one ${{Parameter}}: {prefixes}")
            elif ref(env.get("GRAS_TABLE_PREFIX")) != next(iter(prefixes)):
                rep.fail(f"{fid}: GRAS_TABLE_PREFIX must be !Ref {next(iter(prefixes))} (the table "
                         f"names' prefix), is {env.get('GRAS_TABLE_PREFIX')!r}")
        if "GRAS_METRICS" in env and env["GRAS_METRICS"] not in metrics_values:
            rep.fail(f"{fid}: GRAS_METRICS={env['GRAS_METRICS']!r} is not one of {sorted(metrics_values)}")
        rep.ok(f"{fid}: required {', '.join(required)} set; optional read: {', '.join(optional)}; "
               f"set: {', '.join(sorted(env))}")


def policy_grants(fid: str, res: dict, resources: dict, rep: Report) -> list[tuple[str, set[str], bool]]:
    """(logical id, actions, conditional) granted by a function's policies, per resource."""
    grants = []
    policies = res.get("Properties", {}).get("Policies") or []
    if isinstance(policies, (str, dict)):
        policies = [policies]
    for pol in policies:
        if isinstance(pol, str):
            continue  # a managed policy by name
        for key, arg in pol.items():
            if key in SAM_POLICY_ACTIONS:
                node = (arg or {}).get(SAM_POLICY_ARG[key])
                target = ref(node) or (getatt(node) or (None,))[0]
                if target not in resources:
                    rep.fail(f"{fid}: {key} names {node!r}, not a resource of the template")
                    continue
                grants.append((target, set(SAM_POLICY_ACTIONS[key]), False))
            elif key == "Statement":
                for st in arg if isinstance(arg, list) else [arg]:
                    if st.get("Effect") != "Allow":
                        continue
                    actions = st.get("Action")
                    actions = set([actions] if isinstance(actions, str) else actions or [])
                    rs = st.get("Resource")
                    for r in rs if isinstance(rs, list) else [rs]:
                        ga = getatt(r)
                        text = sub_text(r)
                        if ga and ga[1] == "Arn":
                            target = ga[0]
                        elif text and re.fullmatch(r"\$\{(\w+)\.Arn\}", text):
                            target = re.fullmatch(r"\$\{(\w+)\.Arn\}", text).group(1)
                        else:
                            continue  # object ARNs, index ARNs, "*"
                        grants.append((target, actions, "Condition" in st))
    return grants


def allows(grants: list, target: str, action: str) -> bool:
    return any(t == target and any(fnmatch.fnmatchcase(action, a) for a in acts)
               for t, acts, _ in grants)


def check_tables_and_queues(rep: Report, t: dict, functions: dict, binary_of: dict) -> None:
    rep.start("3. tables and queues in the policies")
    resources = t["Resources"]

    # The code's tables: TableSpec constants (the storage conformance suite's scratch specs
    # reuse real names and are left out).
    contract = strip_rust((ROOT / "shared/src/contract.rs").read_text())
    table_names = module_consts(contract, "table")
    specs: dict[str, tuple[str, str | None]] = {}
    for path in rust_files(ROOT / "shared/src"):
        if path.name == "conformance.rs":
            continue
        code = strip_rust(path.read_text())
        attrs = module_consts(code, "attr")
        consts = str_consts(code)

        def value(expr: str) -> str | None:
            expr = expr.strip()
            if expr.startswith('"'):
                return expr.strip('"')
            last = expr.split("::")[-1]
            if "table::" in expr or expr.startswith("table"):
                return table_names.get(last)
            if "attr::" in expr:
                return attrs.get(last)
            return consts.get(last)
        for m in re.finditer(r"const\s+(\w+)\s*:\s*TableSpec\s*=\s*TableSpec\s*\{(.*?)\};", code, re.S):
            fields = dict(re.findall(r"(\w+)\s*:\s*([^,]+),", m.group(2) + ","))
            name = value(fields["name"])
            pk = value(fields["pk"])
            sk_expr = fields["sk"].strip()
            sk = None if sk_expr == "None" else value(re.fullmatch(r"Some\((.*)\)", sk_expr).group(1))
            if not name or not pk or (sk_expr != "None" and not sk):
                rep.fail(f"{path.relative_to(ROOT)}: cannot read TableSpec {m.group(1)}")
                continue
            specs[name] = (pk, sk)
    tables: dict[str, str] = {}  # code name -> logical id
    for lid, res in resources.items():
        if res.get("Type") != "AWS::DynamoDB::Table":
            continue
        p = res["Properties"]
        text = sub_text(p.get("TableName")) or ""
        base = re.sub(r"^\$\{\w+\}", "", text)
        tables[base] = lid
        if base not in specs:
            rep.fail(f"{lid}: table {text!r} is no TableSpec of the code ({', '.join(sorted(specs))})")
            continue
        keys = {k["KeyType"]: k["AttributeName"] for k in p.get("KeySchema", [])}
        types = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])}
        pk, sk = specs[base]
        if keys.get("HASH") != pk or keys.get("RANGE") != sk:
            rep.fail(f"{lid}: keys HASH={keys.get('HASH')} RANGE={keys.get('RANGE')}, the code has pk={pk} sk={sk}")
        if any(types.get(k) != "S" for k in keys.values()):
            rep.fail(f"{lid}: key attributes must be S (strings in the code): {types}")
        else:
            rep.ok(f"{lid}: {base}, keys {', '.join(k for k in (pk, sk) if k)} as its TableSpec")
    for name in specs:
        if name not in tables:
            rep.fail(f"the code's table {name} is not declared")

    # SqsQueue's SQS calls -> the actions a function with a queue URL needs.
    queue_rs = strip_rust((ROOT / "shared/src/queue.rs").read_text())
    sqs_impl = "".join(queue_rs[m.end() - 1:match_brace(queue_rs, m.end() - 1) + 1]
                       for m in re.finditer(r"impl\s+(?:\w+\s+for\s+)?SqsQueue\s*\{", queue_rs))
    sqs_calls = set(re.findall(r"\.(\w+)\(\)", sqs_impl)) & set(SQS_CALL_ACTIONS)
    queue_actions = sorted({SQS_CALL_ACTIONS[c] for c in sqs_calls})
    if not queue_actions:
        rep.fail("no SQS call found in the impl blocks of SqsQueue (shared/src/queue.rs)")

    globals_env = (((t.get("Globals") or {}).get("Function") or {}).get("Environment") or {}).get("Variables") or {}
    for fid, binary in binary_of.items():
        res = functions[fid]
        grants = policy_grants(fid, res, resources, rep)
        use = TABLE_USE.get(binary)
        if use is None:
            rep.fail(f"{fid}: binary {binary} has no entry in TABLE_USE (scripts/check_template_code.py)")
            use = {}
        for table, actions in sorted(use.items()):
            if table not in specs:
                rep.fail(f"TABLE_USE[{binary}] names {table}, which is no TableSpec of the code")
                continue
            lid = tables.get(table)
            if lid is None:
                continue
            missing = sorted(a for a in actions if not allows(grants, lid, a))
            if missing:
                rep.fail(f"{fid}: uses {table} ({lid}) with {', '.join(missing)}, not allowed by its policies")
        granted_tables = {tgt for tgt, _, _ in grants if resources.get(tgt, {}).get("Type") == "AWS::DynamoDB::Table"}
        used_lids = {tables.get(tb) for tb in use}
        for lid in sorted(granted_tables - used_lids):
            rep.fail(f"{fid}: its policies grant {lid}, which {binary} does not use (least privilege)")
        # Queues: URL variables -> send permission; SQS events -> queues of the template.
        env = {**globals_env, **((res.get("Properties", {}).get("Environment") or {}).get("Variables") or {})}
        url_queues = {ref(v): k for k, v in env.items() if k.endswith("_QUEUE_URL") and ref(v)}
        for q, var in sorted(url_queues.items()):
            for a in queue_actions:
                if not allows(grants, q, a):
                    rep.fail(f"{fid}: {var} is {q}, but its policies do not allow {a} on it")
        sent_to = {tgt for tgt, acts, _ in grants
                   if resources.get(tgt, {}).get("Type") == "AWS::SQS::Queue"
                   and any(fnmatch.fnmatchcase("sqs:SendMessage", a) for a in acts)}
        for q in sorted(sent_to - set(url_queues)):
            rep.fail(f"{fid}: may send to {q}, but no *_QUEUE_URL variable names it")
        consumed = []
        for ename, ev in (res.get("Properties", {}).get("Events") or {}).items():
            if ev.get("Type") == "SQS":
                q = (getatt(ev["Properties"].get("Queue")) or (None,))[0]
                if resources.get(q, {}).get("Type") != "AWS::SQS::Queue":
                    rep.fail(f"{fid}: SQS event {ename} reads {ev['Properties'].get('Queue')!r}, not a queue")
                else:
                    consumed.append(q)
        short = lambda a: a.removeprefix("dynamodb:").removesuffix("Item")  # noqa: E731
        tables_txt = "; ".join(f"{tb} ({','.join(sorted(map(short, a)))})" for tb, a in sorted(use.items()))
        sends = (f"{', '.join(sorted(url_queues))} ({', '.join(queue_actions)})" if url_queues else "-")
        rep.ok(f"{fid}: {tables_txt}; sends to {sends}; consumes {', '.join(consumed) or '-'}")

    # Every queue has a DLQ (or is one), every DLQ an alarm on its depth.
    queues = {lid for lid, r in resources.items() if r.get("Type") == "AWS::SQS::Queue"}
    dlqs = set()
    for lid in queues:
        rp = resources[lid].get("Properties", {}).get("RedrivePolicy")
        if rp:
            target = (getatt(rp.get("deadLetterTargetArn")) or (None,))[0]
            if target not in queues:
                rep.fail(f"{lid}: dead-letter target {rp.get('deadLetterTargetArn')!r} is not a queue")
            dlqs.add(target)
    for lid in sorted(queues - dlqs):
        if not resources[lid].get("Properties", {}).get("RedrivePolicy"):
            rep.fail(f"{lid}: no RedrivePolicy (dead-letter queue)")
    alarmed = set()
    for lid, r in resources.items():
        p = r.get("Properties", {})
        if r.get("Type") == "AWS::CloudWatch::Alarm" and p.get("Namespace") == "AWS/SQS":
            for d in p.get("Dimensions", []):
                ga = getatt(d.get("Value"))
                if d.get("Name") == "QueueName" and ga and ga[1] == "QueueName":
                    alarmed.add(ga[0])
    for lid in sorted(dlqs):
        if lid not in alarmed:
            rep.fail(f"dead-letter queue {lid} has no depth alarm (AWS/SQS, QueueName)")
    rep.ok(f"queues with a DLQ: {', '.join(sorted(queues - dlqs))}; DLQs with a depth alarm: "
           f"{', '.join(sorted(dlqs & alarmed))}")


def check_events(rep: Report, t: dict, functions: dict, binary_of: dict, stack: str) -> None:
    rep.start(f"4. events/*.json against the event sources (stack name {stack!r})")
    resources = t["Resources"]
    params = t.get("Parameters", {})
    sqs_sources: dict[str, tuple[str, str]] = {}  # queue name -> (function, event)
    schedules: dict[str, list[tuple[str, str, str | None]]] = {}  # binary -> [(fn, event, name)]
    routes: dict[tuple[str, str], tuple[str, str]] = {}  # (METHOD, path) -> (fn, event)
    for fid, res in functions.items():
        for ename, ev in (res.get("Properties", {}).get("Events") or {}).items():
            p = ev.get("Properties", {})
            if ev.get("Type") == "SQS":
                q = (getatt(p.get("Queue")) or (None,))[0]
                qname = resolve_name(resources.get(q, {}).get("Properties", {}).get("QueueName"), stack, params)
                sqs_sources[qname or f"<{q}>"] = (fid, ename)
            elif ev.get("Type") in ("Schedule", "ScheduleV2"):
                name = resolve_name(p.get("Name"), stack, params) if p.get("Name") else None
                schedules.setdefault(binary_of.get(fid, fid), []).append((fid, ename, name))
            elif ev.get("Type") == "HttpApi":
                routes[(str(p.get("Method", "ANY")).upper(), str(p.get("Path", "/")))] = (fid, ename)
    covered: set = set()
    files = sorted((ROOT / "events").glob("*.json"))
    for path in files:
        name = path.name
        try:
            ev = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            rep.fail(f"{name}: not JSON ({e})")
            continue
        if name.startswith("sqs-"):
            records = ev.get("Records") or []
            if not records:
                rep.fail(f"{name}: no Records")
            for r in records:
                if r.get("eventSource") != "aws:sqs":
                    rep.fail(f"{name}: a record's eventSource is {r.get('eventSource')!r}, not aws:sqs")
                    break
                qname = str(r.get("eventSourceARN", "")).split(":")[-1]
                if qname not in sqs_sources:
                    rep.fail(f"{name}: queue {qname!r} (eventSourceARN) is no SQS event source "
                             f"(there are: {', '.join(sorted(sqs_sources))})")
                    break
                covered.add(("sqs", qname))
            else:
                fid, ename = sqs_sources[qname]
                rep.ok(f"{name}: {len(records)} SQS record(s) of {qname} -> {fid}.{ename}")
        elif name.startswith("eventbridge-schedule-"):
            binary = name[len("eventbridge-schedule-"):-len(".json")]
            if ev.get("source") != "aws.events" or ev.get("detail-type") != "Scheduled Event":
                rep.fail(f"{name}: not a scheduled event (source aws.events, detail-type Scheduled Event)")
                continue
            if binary not in schedules:
                rep.fail(f"{name}: no function built from binary {binary!r} has a Schedule event "
                         f"(scheduled: {', '.join(sorted(schedules))})")
                continue
            rules = {str(r).split("rule/")[-1] for r in ev.get("resources", [])}
            named = {n for _, _, n in schedules[binary] if n}
            if named and rules and not rules & named:
                rep.fail(f"{name}: rule {', '.join(sorted(rules))} is not the schedule {', '.join(sorted(named))}")
                continue
            covered.add(("schedule", binary))
            fid, ename, _ = schedules[binary][0]
            rep.ok(f"{name}: scheduled event -> {fid}.{ename} (rule {', '.join(sorted(rules)) or '-'})")
        elif name.startswith("apigw-"):
            ctx = ev.get("requestContext") or {}
            method = str((ctx.get("http") or {}).get("method", "")).upper()
            route_key = ev.get("routeKey")
            if ev.get("version") != "2.0":
                rep.fail(f"{name}: version {ev.get('version')!r}: the HTTP API sends payload 2.0")
                continue
            if ctx.get("routeKey") != route_key:
                rep.fail(f"{name}: routeKey {route_key!r} and requestContext.routeKey {ctx.get('routeKey')!r} differ")
                continue
            m_, _, path_ = str(route_key).partition(" ")
            if m_.upper() != method:
                rep.fail(f"{name}: routeKey {route_key!r} but requestContext.http.method {method!r}")
                continue
            key = (method, path_)
            if key not in routes and ("ANY", path_) not in routes:
                rep.fail(f"{name}: no HttpApi event with Method {method} and Path {path_}")
                continue
            covered.add(("route", key if key in routes else ("ANY", path_)))
            fid, ename = routes.get(key) or routes[("ANY", path_)]
            rep.ok(f"{name}: {method} {path_} -> {fid}.{ename}")
        else:
            rep.fail(f"{name}: unknown kind (expected sqs-*.json, eventbridge-schedule-<binary>.json, apigw-*.json)")
    for qname, (fid, ename) in sorted(sqs_sources.items()):
        if ("sqs", qname) not in covered:
            rep.fail(f"{fid}.{ename} (SQS {qname}) has no events/sqs-*.json file")
    for binary, lst in sorted(schedules.items()):
        if ("schedule", binary) not in covered:
            rep.fail(f"{lst[0][0]}.{lst[0][1]} (Schedule) has no events/eventbridge-schedule-{binary}.json")
    for key, (fid, ename) in sorted(routes.items()):
        if ("route", key) not in covered:
            rep.fail(f"{fid}.{ename} ({key[0]} {key[1]}) has no events/apigw-*.json file")


def arrow_schema(path: Path, rep: Report) -> list[tuple[str, str]]:
    """(column, Glue type) of `pub fn schema()` in a file, in order."""
    code = strip_rust(path.read_text())
    body = fn_body(code, "schema")
    if body is None:
        rep.fail(f"{path.relative_to(ROOT)}: no fn schema()")
        return []
    contract = strip_rust((ROOT / "shared/src/contract.rs").read_text())
    col = module_consts(contract, "silver_col")
    def const_list(name: str) -> list[str]:
        m = re.search(name + r"\s*:\s*\[&str;\s*\d+\]\s*=\s*\[(.*?)\]", contract, re.S)
        return [col.get(x.strip()) or x.strip().strip('"')
                for x in m.group(1).split(",") if x.strip()] if m else []
    lists = {name: const_list(name) for name in ("FLOAT_FEATURES", "TOTALS")}
    # Helper closures such as `let f64_col = |name: &str| Field::new(name, DataType::Float64, true);`
    helpers = {}
    for m in re.finditer(r"let\s+(\w+)\s*=\s*\|\s*\w+\s*:\s*&str\s*\|\s*Field::new\(\s*\w+\s*,\s*DataType::(\w+)[^;]*;", body):
        helpers[m.group(1)] = m.group(2)
    body = re.sub(r"let\s+\w+\s*=\s*\|[^;]*;", "", body)
    type_vars = dict(re.findall(r"let\s+(\w+)\s*=\s*DataType::(\w+)", body))

    def name_of(expr: str) -> str | None:
        expr = expr.strip()
        if expr.startswith('"'):
            return expr.strip('"')
        return col.get(expr.split("::")[-1])
    cols: list[tuple[str, str]] = []
    alternatives = [
        # `FLOAT_FEATURES.iter().map(|n| f64_col(n))`: every float feature (or v2 total)
        # through a helper
        r"(?P<list>FLOAT_FEATURES|TOTALS)\.iter\(\)\.map\(\s*\|\s*\w+\s*\|\s*(?P<fmap>\w+)\(\s*\w+\s*\)\s*\)",
        # `Field::new(NAME, DataType::T ...` or `Field::new(NAME, var ...`
        r"Field::new\(\s*(?P<name>[^,]+?)\s*,\s*(?:DataType::(?P<dt>\w+)|(?P<var>\w+))",
    ]
    if helpers:
        alternatives.append(r"\b(?P<helper>" + "|".join(map(re.escape, helpers)) + r")\(\s*(?P<arg>[^()]+?)\s*\)")
    for m in re.finditer("|".join(alternatives), body):
        if m.group("fmap"):
            dt = helpers.get(m.group("fmap"), "?")
            cols += [(n, ARROW_TO_GLUE.get(dt, f"?{dt}")) for n in lists[m.group("list")]]
        elif m.group("name"):
            dt = m.group("dt") or type_vars.get(m.group("var") or "")
            cols.append((name_of(m.group("name")), ARROW_TO_GLUE.get(dt or "", f"?{dt}")))
        elif helpers and m.group("helper"):
            dt = helpers[m.group("helper")]
            cols.append((name_of(m.group("arg")), ARROW_TO_GLUE.get(dt, f"?{dt}")))
    if not cols or any(n is None or t.startswith("?") for n, t in cols):
        rep.fail(f"{path.relative_to(ROOT)}: cannot read schema() ({cols})")
    return cols


def key_layout(fn: str, rep: Report) -> dict | None:
    """Prefix, partition segments and date format of contract.rs `fn` (silver_key, ...)."""
    contract = strip_rust((ROOT / "shared/src/contract.rs").read_text())
    consts = str_consts(contract)
    body = fn_body(contract, fn)
    m = body and re.search(r'format!\(\s*"\{(\w+)\}([^"]*)"\s*,\s*\w+\.format\("([^"]+)"\)', body)
    if not m:
        rep.fail(f"shared/src/contract.rs: cannot read the key layout of {fn}")
        return None
    prefix, rest, chrono = consts[m.group(1)], m.group(2), m.group(3)
    segments = rest.split("/")
    keys = [s.split("=")[0] for s in segments[:-1]]
    java = chrono.replace("%Y", "yyyy").replace("%m", "MM").replace("%d", "dd")
    return {"prefix": prefix, "keys": keys, "file": segments[-1], "format": java}


def check_glue(rep: Report, t: dict) -> None:
    rep.start("5. Glue tables against the Parquet schemas and key layout")
    resources = t["Resources"]
    params = t.get("Parameters", {})
    config = tomllib.loads((ROOT / "config/gras.toml").read_text())
    metrics = set(config.get("metrics", {}))
    wanted = [("silver", "silver_key", ROOT / "shared/src/silver.rs"),
              ("predictions", "predictions_key", ROOT / "shared/src/predictions.rs")]
    glue = {lid: r for lid, r in resources.items() if r.get("Type") == "AWS::Glue::Table"}
    for label, fn, schema_file in wanted:
        layout = key_layout(fn, rep)
        if layout is None:
            continue
        found = None
        for lid, r in glue.items():
            loc = sub_text(r["Properties"]["TableInput"].get("StorageDescriptor", {}).get("Location")) or ""
            if re.fullmatch(r"s3://\$\{\w+\}/" + re.escape(layout["prefix"]), loc):
                found = lid
        if found is None:
            rep.fail(f"no AWS::Glue::Table with Location s3://${{<bucket>}}/{layout['prefix']} ({label})")
            continue
        ti = glue[found]["Properties"]["TableInput"]
        sd = ti.get("StorageDescriptor", {})
        tp = ti.get("Parameters", {})
        bucket = re.match(r"s3://\$\{(\w+)\}", sub_text(sd["Location"])).group(1)
        if resources.get(bucket, {}).get("Type") != "AWS::S3::Bucket":
            rep.fail(f"{found}: Location is not in a bucket of the template ({bucket})")
        columns = [(c["Name"], c["Type"]) for c in sd.get("Columns", [])]
        expected = arrow_schema(schema_file, rep)
        if columns != expected:
            diff = [f"{i}: {a} != {b}" for i, (a, b) in enumerate(zip(columns, expected)) if a != b]
            rep.fail(f"{found}: columns differ from {schema_file.relative_to(ROOT)} schema(): "
                     f"{diff or f'{len(columns)} vs {len(expected)} columns'}")
        pkeys = [k["Name"] for k in ti.get("PartitionKeys", [])]
        if pkeys != layout["keys"]:
            rep.fail(f"{found}: partition keys {pkeys}, the key layout has {layout['keys']}")
        template = sub_text(tp.get("storage.location.template")) or ""
        want = f"s3://${{{bucket}}}/{layout['prefix']}" + "".join(f"{k}=${{!{k}}}/" for k in layout["keys"])
        if template != want:
            rep.fail(f"{found}: storage.location.template {template!r}, expected {want!r}")
        if str(tp.get("projection.enabled")).lower() != "true":
            rep.fail(f"{found}: projection.enabled is not true")
        for k in pkeys:
            if f"projection.{k}.type" not in tp:
                rep.fail(f"{found}: no projection.{k}.type")
        if tp.get("projection.date.type") != "date" or tp.get("projection.date.format") != layout["format"]:
            rep.fail(f"{found}: date projection {tp.get('projection.date.type')}/{tp.get('projection.date.format')},"
                     f" the keys use {layout['format']}")
        if tp.get("projection.metric.type") == "enum":
            values = tp.get("projection.metric.values")
            p = ref(values)
            text = str(params[p].get("Default", "")) if p in params else str(values)
            if set(text.split(",")) != metrics:
                rep.fail(f"{found}: metric projection values {text!r} are not the metrics of config/gras.toml "
                         f"({','.join(sorted(metrics))})")
        serde = sd.get("SerdeInfo", {}).get("SerializationLibrary", "")
        if "parquet" not in serde.lower():
            rep.fail(f"{found}: SerDe {serde!r} is not Parquet's")
        if not any(e.startswith("[5. Glue") and found in e for e in rep.errors):
            rep.ok(f"{found} ({ti.get('Name')}): {len(columns)} columns as {schema_file.relative_to(ROOT)}, "
                   f"partitions {'/'.join(f'{k}=' for k in pkeys)} ({layout['format']}), "
                   f"file {layout['file']}, metrics {','.join(sorted(metrics))}")


def main() -> int:
    template_path = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "template.yaml")
    t = load_template(template_path)
    samconfig = tomllib.loads((ROOT / "samconfig.toml").read_text())
    stack = samconfig.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name", "gras")
    functions = {lid: r for lid, r in t["Resources"].items() if r.get("Type") == "AWS::Serverless::Function"}
    print(f"checking {template_path} against the code in {ROOT} ({len(functions)} functions)")
    rep = Report()
    bins = workspace_binaries(rep)
    binary_of = check_binaries(rep, functions, bins)
    check_environment(rep, t, functions, binary_of, bins)
    check_tables_and_queues(rep, t, functions, binary_of)
    check_events(rep, t, functions, binary_of, stack)
    check_glue(rep, t)
    if rep.errors:
        print(f"\nFAILED: {len(rep.errors)} mismatch(es) between {template_path.name} and the code:")
        for e in rep.errors:
            print(f"  {e}")
        return 1
    print(f"\n{template_path.name} matches the code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
