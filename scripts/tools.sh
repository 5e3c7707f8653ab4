# Python command-line tools of the checks, each pinned and in its own virtualenv under
# $GRAS_TOOLS_DIR (default ~/.cache/gras-tools): their dependency pins (boto3, pydantic, ...)
# conflict with each other and with moto. Sourced by scripts/test.sh (which installs them
# all in the background while Rust compiles), scripts/check_template.sh and
# scripts/api_check.sh: one place for the versions.
#
#   ensure_tool NAME      prints the tool's executable; installs it first when it is missing
#                         or another version (a failed install leaves no half venv behind)
#   tool_ok NAME          true when the pinned version is installed

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30
SAM_CLI_VERSION=1.170.0
SCHEMATHESIS_VERSION=4.32.5
tools_dir=${GRAS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gras-tools}

# tool_spec NAME: "<pip requirement> <command> <version>" of a tool.
tool_spec() {
  case $1 in
    cfn-lint) echo "cfn-lint==$CFN_LINT_VERSION cfn-lint $CFN_LINT_VERSION" ;;
    checkov) echo "checkov==$CHECKOV_VERSION checkov $CHECKOV_VERSION" ;;
    aws-sam-cli) echo "aws-sam-cli==$SAM_CLI_VERSION sam $SAM_CLI_VERSION" ;;
    schemathesis) echo "schemathesis==$SCHEMATHESIS_VERSION schemathesis $SCHEMATHESIS_VERSION" ;;
    *) echo "unknown tool $1" >&2; return 2 ;;
  esac
}

tool_ok() {
  local req cmd want
  read -r req cmd want <<<"$(tool_spec "$1")" || return 2
  local bin="$tools_dir/$1/bin/$cmd"
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$want"
}

ensure_tool() {
  local name=$1 req cmd want
  read -r req cmd want <<<"$(tool_spec "$name")" || return 2
  local venv="$tools_dir/$name"
  if ! tool_ok "$name"; then
    echo "installing $req into $venv" >&2
    # Built beside the final place and moved in whole: a reader never sees a half venv.
    local tmp="$venv.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tools_dir"
    python3 -m venv "$tmp" >&2 || return 1
    if ! "$tmp/bin/python" -m pip install --quiet --disable-pip-version-check --no-compile "$req" >&2; then
      rm -rf "$tmp"
      return 1
    fi
    rm -rf "$venv"
    mv "$tmp" "$venv"
    # Console scripts name the interpreter by absolute path: point them at the final venv.
    grep -rlF "$tmp" "$venv/bin" 2>/dev/null | xargs -r sed -i "s#$tmp#$venv#g"
  fi
  echo "$venv/bin/$cmd"
}
