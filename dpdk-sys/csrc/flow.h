/* rvs flow rules: one rte_flow rule shape built in C, where rte_flow's pattern and
 * action arrays (tagged unions of pointers to per-item structs) are plain to write. */
#ifndef RVS_FLOW_H
#define RVS_FLOW_H
#include <stdint.h>

/* Steer packets to local address `addr` (4 bytes if !is_v6, else 16, network order) of
 * L4 protocol `l4_proto` (6 TCP, 17 UDP) whose destination port satisfies
 * (port & port_mask) == port_value to RX queue `queue` of `port_id` (ingress).
 * With `validate_only`, only ask the port whether it would take the rule
 * (rte_flow_validate). Returns 0 on success, else a negative errno; `*message` then
 * points to the PMD's static explanation (or NULL). */
int rvs_flow_steer_dst_port(uint16_t port_id, int is_v6, const uint8_t *addr, uint8_t l4_proto,
                            uint16_t port_value, uint16_t port_mask, uint16_t queue,
                            int validate_only, const char **message);

#endif
