#!/bin/sh
# Fail `prefect deploy` when a variable its prefect.yaml references is unset or empty.
#
# Prefect replaces an unset {{ $VAR }} with an empty string and registers the deployment anyway.
# Each deployments/<project>/prefect.yaml runs this script as its `build` step, which Prefect runs
# before it registers anything: a non-zero exit aborts `prefect deploy --all` there.
# Usage: sh deployments/check-env.sh VAR [VAR...]   (the file's {{ $VARS }}; a unit test keeps the
# list in step with the file)
missing=""
for var in "$@"; do
    if [ -z "$(printenv "$var")" ]; then
        missing="$missing $var"
    fi
done
if [ -n "$missing" ]; then
    echo "check-env: unset or empty:$missing" >&2
    echo "check-env: prefect deploy would register them as empty strings. Load the Prefect" >&2
    echo "check-env: environment's values first: make deploy ENV=<local|dev|prod> PROJECT=<project>," >&2
    echo "check-env: or: set -a; . deployments/<env>.env; set +a" >&2
    exit 1
fi
echo "check-env: all $# variables set"
