#!/usr/bin/env bash
# Static checks of the SAM template, no AWS credentials needed:
#   1. cfn-lint            (CloudFormation schema and best-practice rules, SAM transform
#                           applied; errors and warnings both fail)
#   2. checkov             (security policies; justified skips live in each resource's
#                           Metadata.checkov.skip with the reason)
#   3. sam validate        (the SAM CLI runs the real SAM translator on the template),
#                           if the SAM CLI could be installed
#   4. check_template_code.py (the template against the Rust code: handler binaries,
#                           environment variables, table and queue permissions, events/
#                           files, Glue table schemas), with the cfn-lint virtualenv's Python
#
# Each tool is installed with pip, pinned, into its own virtualenv (scripts/tools.sh), only
# when that exact version is missing.
#
# Usage: bash scripts/check_template.sh [template]   (default: template.yaml)
# Env:   GRAS_TOOLS_DIR      where the virtualenvs go
#        GRAS_SKIP_SAM=1     skip the SAM CLI (install and validate)
set -euo pipefail
cd "$(dirname "$0")/.."
template=${1:-template.yaml}

# Versions and installs: scripts/tools.sh.
source scripts/tools.sh

step() { printf '\n==> %s\n' "$*"; }

step "tools"
cfn_lint=$(ensure_tool cfn-lint)
checkov=$(ensure_tool checkov)
sam=""
if [ "${GRAS_SKIP_SAM:-0}" != 1 ]; then
  # Best effort: a large install; without it the other two checks still run.
  sam=$(timeout 900 bash -c 'source scripts/tools.sh; ensure_tool aws-sam-cli') \
    || { echo "warning: the SAM CLI could not be installed; skipping sam validate" >&2; sam=""; }
fi
"$cfn_lint" --version
echo "checkov $("$checkov" --version)"
[ -n "$sam" ] && "$sam" --version

failed=()

step "cfn-lint $template"
# Exit code: bit 2 errors, bit 4 warnings, bit 8 informational. Informational findings
# (included here) are printed but do not fail the check.
set +e
"$cfn_lint" --include-checks I --format parseable -- "$template"
rc=$?
set -e
if [ $((rc & ~8)) -ne 0 ]; then failed+=("cfn-lint (exit $rc)"); else echo "cfn-lint: no errors or warnings"; fi

step "checkov $template"
# BC_SKIP_MAPPING: no download of the Bridgecrew guideline mapping (works offline).
if BC_SKIP_MAPPING=TRUE "$checkov" -f "$template" --framework cloudformation --quiet --compact; then
  echo "checkov: all checks passed (skips are listed in the template's Metadata)"
else
  failed+=("checkov")
fi

if [ -n "$sam" ]; then
  step "sam validate $template (SAM translator)"
  # Plain `sam validate` translates the template with the SAM translator, locally: no
  # credentials are needed as long as no policy is given by managed-policy *name* (that
  # would be looked up in IAM). samconfig.toml sets `lint = true` for `sam validate`, which
  # then runs cfn-lint *instead of* the translator (cfn-lint is the step above), so an empty
  # config file is passed here.
  empty_config=$(mktemp --suffix .toml)
  echo 'version = 0.1' >"$empty_config"
  if SAM_CLI_TELEMETRY=0 "$sam" validate --region us-east-1 --template "$template" \
      --config-file "$empty_config"; then
    :
  else
    failed+=("sam validate")
  fi
  rm -f "$empty_config"
fi

step "template against the code (scripts/check_template_code.py)"
# The cfn-lint virtualenv's Python: it parses the template with cfn-lint's own decoder.
if "$(dirname "$cfn_lint")/python" scripts/check_template_code.py "$template"; then
  :
else
  failed+=("check_template_code.py")
fi

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nFAILED: %s\n' "${failed[*]}"
  exit 1
fi
printf '\ntemplate checks passed\n'
