#!/usr/bin/env bash
# Runs every end-to-end test (tests/e2e/*.sh except this runner and libraries named
# lib*.sh or _*.sh) one after the other, each under a timeout, prints each result and
# finishes with exactly one line `e2e: N passed, M failed`. Exit status 0 only when
# every test passed (and at least one ran).
# Environment: E2E_TIMEOUT (seconds per test, default 90), E2E_FILTER (run only tests
# whose file name matches this extended regex), RVSD (passed through to the tests).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
per_test_timeout=${E2E_TIMEOUT:-90}
filter=${E2E_FILTER:-}

tests=()
for f in "$here"/*.sh; do
	base=$(basename "$f")
	case $base in
	run.sh | lib*.sh | _*.sh) continue ;;
	esac
	if [ -n "$filter" ] && ! [[ "$base" =~ $filter ]]; then
		continue
	fi
	tests+=("$f")
done

passed=0
failed=0
failed_names=()
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	printf '\n--- e2e %s\n' "$name"
	start=$SECONDS
	# SIGTERM first so the test's trap tears its namespaces down; SIGKILL 15 s later.
	set +e
	timeout -k 15 "$per_test_timeout" bash "$t"
	rc=$?
	set -e
	took=$((SECONDS - start))
	if [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
		printf -- '--- e2e %s: ok (%d s)\n' "$name" "$took"
	else
		failed=$((failed + 1))
		failed_names+=("$name")
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			printf -- '--- e2e %s: FAILED (timed out after %d s)\n' "$name" "$per_test_timeout"
		else
			printf -- '--- e2e %s: FAILED (exit %d, %d s)\n' "$name" "$rc" "$took"
		fi
	fi
done

echo
if [ "${#tests[@]}" -eq 0 ]; then
	echo "no e2e test found in $here"
	failed=1
elif [ "$failed" -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
fi
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
