#!/usr/bin/env bash
# nat6_http.sh with two workers on two-queue af_packet ports: IPv6 flows are steered to
# their owner worker (hash of the client address) and NDP results are shared.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RVS_E2E_WORKERS=2 exec bash "$here/nat6_http.sh"
