#!/usr/bin/env bash
# nat_http.sh with rvsd's ports on net_af_xdp instead of net_af_packet (the faster
# driver of the two on veth).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RVS_E2E_PMD=af_xdp exec bash "$here/nat_http.sh"
