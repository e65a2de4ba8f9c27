#!/usr/bin/env bash
# nat_http.sh with two workers on two-queue af_packet ports: the kernel's fanout spreads
# packets over both queues, so rvsd must steer each flow to its owner worker.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RVS_E2E_WORKERS=2 exec bash "$here/nat_http.sh"
